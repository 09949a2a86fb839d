"""Does augmentation earn its place in the default recipe? Train with and without, compare.

Trains the named architectures with their recipe in each mode (augmentation on, off, or on
plus elastic distortion), same seed, and reports MNIST test accuracy and accuracy on
drawn-like digits through the app's preprocessing. Minutes per architecture on 2 cores.

    MNIST_DIR=... python bench/augmentation.py [--archs mlp-h128,mlp-h512] [--n 2000]
    MNIST_DIR=... python bench/augmentation.py --archs cnn-c8c16 --modes on,elastic

Its tables are the `bench:augmentation` block (the MLPs) and the `bench:augmentation-cnn`
block (`--archs cnn-c8c16,cnn-c32c64 --modes on,elastic --block augmentation-cnn`) of
docs/benchmarks.md; `--doc docs/benchmarks.md` rewrites the one `--block` names there.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from _common import emit, mnist, parser, table

import zoo
from engine.augment import Augment
from engine.data.drawn import drawn_digits
from engine.model import evaluate
from engine.preprocess import preprocess
from engine.training import to_input, train


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--archs", default="mlp-h128,mlp-h512")
    p.add_argument("--n", type=int, default=2000, help="drawn digits to evaluate on")
    p.add_argument("--modes", default="on,off", help="any of on, off, elastic")
    p.add_argument("--block", default="augmentation", help="the block to rewrite (with --doc)")
    p.add_argument("--elastic-alpha", type=float, default=20.0,
                   help="elastic distortion strength in pixels (sigma 4 px), for 'elastic'")
    args = p.parse_args()
    data = mnist(args.data)
    pairs = list(drawn_digits(data.test_images, data.test_labels, args.n, seed=0))
    x_drawn = np.stack([preprocess(d).image.ravel() for d, _ in pairs])
    y_drawn = np.array([y for _, y in pairs])
    x_test = to_input(data.test_images)
    rows = []
    for name in args.archs.split(","):
        arch = zoo.registry.ARCHITECTURES[name.strip()]
        for mode in args.modes.split(","):
            aug = arch.recipe.augment or Augment()
            recipe = arch.recipe.with_(augment={
                "on": aug, "off": None,
                "elastic": replace(aug, elastic_alpha=args.elastic_alpha)}[mode])
            model = arch.init()
            history = train(model, data.train_images, data.train_labels, recipe, arch.seed,
                            desc=f"{name} aug={mode}")
            label = f"on + elastic (alpha {args.elastic_alpha:g})" if mode == "elastic" else mode
            rows.append([name, label,
                         f"{100 * evaluate(model, x_test, data.test_labels) / 10000:.2f}%",
                         f"{100 * evaluate(model, x_drawn, y_drawn) / args.n:.2f}%",
                         f"{history.seconds:.0f} s"])
    emit(args.block, table(["architecture", "augmentation", "MNIST test",
                                f"drawn digits ({args.n})", "training time"], rows),
         args.doc)


if __name__ == "__main__":
    main()
