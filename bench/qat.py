"""Quantisation-aware training against rounding after training, for every precision.

int4 and int2 variants are fine-tuned with quantisation in the loop by train.py, which
also records what plain post-training quantisation (PTQ) of the same parent scores: those
rows come from the manifest. int8 ships PTQ; this script measures what the same
fine-tuning would give it (--archs), so the choice rests on a figure.

    MNIST_DIR=... python bench/qat.py [--archs mlp-h32,cnn-c8c16] [--epochs 3]

Its table is the `bench:qat` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import time

from _common import emit, mnist, parser, table

import zoo
from engine.model import evaluate
from engine.qat import QAT
from engine.training import to_input, train

HELD_OUT = 5000  # train.py's CALIBRATION_IMAGES


def pct(correct: int, n: int) -> str:
    return f"{100 * correct / n:.2f}%"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--archs", default="mlp-h32,cnn-c8c16",
                   help="architectures to fine-tune at int8 (comma-separated)")
    p.add_argument("--epochs", type=int, default=3, help="int8 QAT epochs (as int4's)")
    args = p.parse_args()
    shipped = zoo.open()
    entries = shipped.manifest["variants"]
    n = shipped.manifest["dataset"]["test_images"]
    rows = []
    for e in sorted(entries.values(), key=lambda e: (e["bits"], e["architecture"])):
        if e.get("qat"):
            ptq = e["qat"]["ptq_test_correct"]
            rows.append([f"`{e['name']}`", f"{100 * e['parent_accuracy']:.2f}%", pct(ptq, n),
                pct(e["test_correct"], n), f"{100 * (e['test_correct'] - ptq) / n:+.2f}",
                f"{e['qat']['recipe']['epochs']} (train.py)"])
    data = mnist(args.data)
    x_test = to_input(data.test_images)
    for arch in args.archs.split(","):
        v = zoo.get_variant(f"{arch}-int8")
        parent = shipped.load(v.parent).copy()  # loaded weights are read-only: train a copy
        ptq = evaluate(v.convert(parent), x_test, data.test_labels)
        finetune = v.architecture.recipe.with_(epochs=args.epochs, lr=1e-4, warmup_epochs=0.0,
                                               qat=QAT(8, None, "absmax", 8))
        start = time.perf_counter()
        # the first 55,000 images, as train.py: the last 5,000 are held out of training
        train(parent, data.train_images[:-HELD_OUT], data.train_labels[:-HELD_OUT], finetune,
              v.architecture.seed, desc=f"{v.name} (QAT)")
        qat = evaluate(v.convert(parent), x_test, data.test_labels)
        rows.append([f"`{v.name}`", pct(entries[v.parent]["test_correct"], n), pct(ptq, n),
                     pct(qat, n), f"{100 * (qat - ptq) / n:+.2f}",
                     f"{args.epochs} ({time.perf_counter() - start:.0f} s, this run)"])
    emit("qat", table(["variant", "float parent", "PTQ", "QAT", "QAT − PTQ (pts)",
                       "QAT epochs"], rows), args.doc)


if __name__ == "__main__":
    main()
