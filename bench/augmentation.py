"""Does augmentation earn its place in the default recipe? Train with and without, compare.

Trains the named architectures with the default recipe twice (augmentation on, off), same
seed, and reports MNIST test accuracy and accuracy on drawn-like digits through the app's
preprocessing. Takes a few minutes per architecture on 2 cores.

    MNIST_DIR=... python bench/augmentation.py [--archs mlp-h128,mlp-h512] [--n 2000]
"""

from __future__ import annotations

import numpy as np
from _common import emit, mnist, parser, table

import zoo
from engine.drawn import drawn_digits
from engine.model import evaluate
from engine.preprocess import preprocess
from engine.training import to_input, train


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--archs", default="mlp-h128,mlp-h512")
    p.add_argument("--n", type=int, default=2000, help="drawn digits to evaluate on")
    args = p.parse_args()
    data = mnist(args.data)
    pairs = list(drawn_digits(data.test_images, data.test_labels, args.n, seed=0))
    x_drawn = np.stack([preprocess(d).image.ravel() for d, _ in pairs])
    y_drawn = np.array([y for _, y in pairs])
    x_test = to_input(data.test_images)
    rows = []
    for name in args.archs.split(","):
        arch = zoo.registry.ARCHITECTURES[name.strip()]
        for augment in (True, False):
            recipe = arch.recipe if augment else arch.recipe.with_(augment=None)
            model = arch.init()
            history = train(model, data.train_images, data.train_labels, recipe, arch.seed,
                            desc=f"{name} aug={'on' if augment else 'off'}")
            rows.append([name, "on" if augment else "off",
                         f"{100 * evaluate(model, x_test, data.test_labels) / 10000:.2f}%",
                         f"{100 * evaluate(model, x_drawn, y_drawn) / args.n:.2f}%",
                         f"{history.seconds:.0f} s"])
    emit("augmentation", table(["architecture", "augmentation", "MNIST test",
                                f"drawn digits ({args.n})", "training time"], rows),
         args.readme)


if __name__ == "__main__":
    main()
