"""Accuracy on drawn-like digits: the preprocessing pipeline vs a naive resize, per variant.

MNIST test digits are redrawn as mouse drawings (engine/data/drawn.py: thin strokes at random
size, place, slant and pen width on 280-800 px canvases), then fed to every shipped
variant through `engine.preprocess.preprocess` and through a plain resize to 28x28. A zoo
fine-tuned on drawings (`train.py --drawings`) has seen this generator redraw *training*
digits, so for it these are new digits in a familiar hand; the figure on drawings no
variant trains on is `bench/held_out_drawings.py`'s.

    MNIST_DIR=... python bench/drawn_digits.py [--n 2000] [--seed 0] [--data DIR]

Its table is the `bench:drawn` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import time

import numpy as np
from _common import emit, mnist, parser, table
from tqdm.auto import tqdm

import zoo
from engine.data.drawn import drawn_digits
from engine.model import evaluate
from engine.preprocess import naive, preprocess
from zoo.report import ordered


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=2000, help="drawn digits (from the test set)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    data = mnist(args.data)
    piped, resized, labels = [], [], []
    start = time.perf_counter()
    for drawing, label in tqdm(drawn_digits(data.test_images, data.test_labels, args.n,
                                            args.seed), total=args.n, desc="draw + preprocess"):
        piped.append(preprocess(drawing).image.ravel())
        resized.append(naive(drawing).ravel())
        labels.append(label)
    per_digit_ms = 1000 * (time.perf_counter() - start) / args.n
    x_pipe, x_naive, y = np.stack(piped), np.stack(resized), np.array(labels)
    shipped = zoo.open()
    rows = []
    for e in ordered(shipped.manifest):
        model = shipped.load(e["name"])
        rows.append([f"`{e['name']}`", f"{100 * e['test_accuracy']:.2f}%",
                     f"{100 * evaluate(model, x_pipe, y) / len(y):.2f}%",
                     f"{100 * evaluate(model, x_naive, y) / len(y):.2f}%"])
    emit("drawn", table(["variant", "MNIST test", "drawn, pipeline", "drawn, naive resize"],
                        rows) + f"\n\n{args.n} drawn digits (seed {args.seed}); drawing and both "
         f"preprocessings took {per_digit_ms:.1f} ms per digit.", args.doc)


if __name__ == "__main__":
    main()
