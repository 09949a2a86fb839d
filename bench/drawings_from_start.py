"""Drawn digits learnt from the start: an architecture trained on MNIST plus drawings.

`train.py --drawings N` fine-tunes each architecture on MNIST plus drawings after it has
learnt MNIST, which gains 1.8-8.8 points on held-out drawn digits and costs MNIST 0.05
points on average (docs/training.md). This bench measures the other way round: the
architecture trained once, from its seed, with its own recipe, on the 55,000 MNIST
training images plus the same 2N drawings `train.py --drawings N` would add (N redrawn
MNIST digits and N pen-stroke digits in the training faces and styles, zoo/drawings.py),
beside the shipped variant trained on MNIST alone: MNIST test accuracy and the manifest's
held-out drawn digits (faces and styles no architecture trains on).

    MNIST_DIR=... python bench/drawings_from_start.py [--archs mlp-h128,cnn-c8c16]
                                                      [--drawings 10000]

Its table is the `bench:drawings-from-start` block of docs/benchmarks.md; `--doc
docs/benchmarks.md` rewrites it there. Every precision, as a zoo would ship them, comes
from train.py itself (the int4 and 2-bit fine-tunes then train on the mix too):

    MNIST_DIR=... python train.py --variants 'mlp-h128-*' --drawings 10000 --from-start \
        --out /tmp/zoo
    python bench/drawings_from_start.py --zoo /tmp/zoo

`--zoo` reads the two manifests (each file's figures as train.py measured them) and
prints every variant of that zoo beside the shipped one: the
`bench:drawings-from-start-zoo` block of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from _common import ROOT, emit, mnist, parser, table

import zoo
from engine.model import evaluate
from engine.training import train
from zoo import drawings
from zoo.registry import ARCHITECTURES

sys.path.insert(0, str(ROOT))
from train import CALIBRATION_IMAGES  # the entry script: the split it trains on


def accuracies(model, x_test: np.ndarray, y_test: np.ndarray) -> tuple[float, float]:
    """(MNIST test accuracy, held-out drawn-digit accuracy: the manifest's figure) of
    `model`."""
    return (evaluate(model, x_test.astype(model.dtype), y_test) / len(y_test),
            drawings.drawn_figures(model)["drawn_accuracy"])


def against_shipped(folder: Path) -> str:
    """Every variant of the zoo in `folder` beside the shipped one, from the manifests."""
    new = json.loads((folder / "manifest.json").read_text())["variants"]
    shipped = json.loads((ROOT / "models" / "manifest.json").read_text())["variants"]
    rows, moves = [], []
    for name, e in new.items():
        s = shipped.get(name)
        if s is None or (e.get("drawings") or {}).get("from_start") is not True:
            raise SystemExit(f"{name} in {folder}: not shipped, or not trained --from-start")
        points = [100 * (e[k] - s[k]) for k in ("test_accuracy", "drawn_accuracy")]
        moves.append(points)
        rows.append([f"`{name}`", f"{s['test_accuracy']:.2%} -> {e['test_accuracy']:.2%}",
                     f"{points[0]:+.2f}", f"{s['drawn_accuracy']:.2%} -> "
                     f"{e['drawn_accuracy']:.2%}", f"{points[1]:+.2f}",
                     f"{s['drawn_ece']:.2%} -> {e['drawn_ece']:.2%}"])
    mnist_moves, drawn_moves = zip(*moves)
    return (table(["variant", "MNIST test, shipped -> from the start", "points",
                   "held-out drawn digits", "points", "drawn ECE"], rows) +
            f"\n\n{len(rows)} variants: MNIST {min(mnist_moves):+.2f} to {max(mnist_moves):+.2f} "
            f"points (mean {sum(mnist_moves) / len(rows):+.2f}; "
            f"{sum(m < -0.05 for m in mnist_moves)} down by more than 0.05), held-out drawn "
            f"digits {min(drawn_moves):+.2f} to {max(drawn_moves):+.2f} "
            f"(mean {sum(drawn_moves) / len(rows):+.2f}). Figures from the two manifests: "
            "each variant's files as train.py wrote, read back and measured them; drawn ECE "
            "with each variant's temperature fitted on MNIST.")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--archs", default="mlp-h128,cnn-c8c16", help="architectures, comma-separated")
    p.add_argument("--drawings", type=int, default=10000, metavar="N",
                   help="of each kind, as train.py --drawings N (default %(default)s)")
    p.add_argument("--zoo", type=Path, metavar="DIR",
                   help="compare the zoo train.py --from-start wrote there; trains nothing")
    args = p.parse_args()
    if args.zoo is not None:
        emit("drawings-from-start-zoo", against_shipped(args.zoo), args.doc)
        return
    names = [a for a in args.archs.split(",") if a]
    if unknown := [a for a in names if a not in ARCHITECTURES]:
        raise SystemExit(f"unknown architecture(s): {', '.join(unknown)}")
    data = mnist(args.data)
    images = data.train_images[:-CALIBRATION_IMAGES]
    labels = data.train_labels[:-CALIBRATION_IMAGES]
    x_test = data.test_images / np.float32(255)
    drawn = drawings.training_drawings(images, labels, args.drawings, progress=True)
    mixed = np.concatenate([images, drawn[0]]), np.concatenate([labels, drawn[1]])
    shipped = zoo.open()
    rows = []
    for name in names:
        arch = ARCHITECTURES[name]
        before = accuracies(shipped.load(f"{name}-{arch.recipe.dtype}"), x_test,
                            data.test_labels)
        model = arch.init()
        start = time.perf_counter()
        train(model, *mixed, arch.recipe, arch.seed, desc=f"{name} (MNIST + drawings)")
        seconds = time.perf_counter() - start
        after = accuracies(model, x_test, data.test_labels)  # a CNN infers folded
        rows.append([f"`{name}`", f"{before[0]:.2%} -> {after[0]:.2%}",
                     f"{100 * (after[0] - before[0]):+.2f}",
                     f"{before[1]:.2%} -> {after[1]:.2%}", f"{100 * (after[1] - before[1]):+.2f}",
                     f"{seconds:,.0f} s"])
        print(rows[-1], flush=True)
    text = (table(["architecture (float)", "MNIST test, shipped -> from the start",
                   "points", "held-out drawn digits", "points", "training"], rows) +
            f"\n\nShipped: trained on the {len(labels):,} MNIST training images alone. From the "
            f"start: the same architecture, seed and recipe on those and {len(drawn[1]):,} "
            f"drawings ({args.drawings:,} redrawn MNIST digits, {args.drawings:,} pen-stroke "
            "digits in the training faces and styles; `zoo.drawings.training_drawings`, the "
            "set `train.py --drawings` adds). Held-out drawn digits: the manifest's set "
            f"({drawings.DRAWN_SET}).")
    emit("drawings-from-start", text, args.doc)


if __name__ == "__main__":
    main()
