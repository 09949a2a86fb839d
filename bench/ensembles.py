"""Which variants should vote: candidate ensembles on held-out and test images.

Each candidate averages its members' calibrated probabilities (zoo.voting), as a registered
ensemble does. The candidates and the pick are zoo/choosing.py's rule, judged on the 5,000
held-out training images (no variant trained on them); the test column is reported, never
chosen on.

    MNIST_DIR=... python bench/ensembles.py [--models DIR]

Its table is the `bench:ensembles` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

from _common import emit, mnist, parser, table

import zoo
from zoo import choosing, voting
from zoo.registry import Ensemble
from zoo.report import kib

HELD_OUT = 5000  # the last training images, as train.py keeps them out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--models", help="models folder (default: the shipped models/)")
    args = p.parse_args()
    data = mnist(args.data)
    x_held, y_held = data.train_images[-HELD_OUT:], data.train_labels[-HELD_OUT:]
    x_test, y_test = data.test_images, data.test_labels
    source = zoo.open(args.models)
    variants = source.manifest["variants"]
    held = choosing.float_accuracy(variants, source.load, x_held, y_held)
    ranked = sorted((variants[n] for n in held), key=lambda e: -held[e["name"]])
    registered = {tuple(e.members): e.name for e in zoo.ensembles()}
    sets = choosing.candidates(variants, held)
    measured = voting.measure([Ensemble(" + ".join(n), n) for n in sets], variants,
                              source.load, (x_held, y_held), (x_test, y_test), "")
    rows = [[" + ".join(f"`{m}`" for m in e["members"]),
             registered.get(tuple(e["members"]), ""), kib(e["bytes"]),
             f"{100 * e['validation_accuracy']:.2f}%", f"{100 * e['test_accuracy']:.2f}%",
             f"{100 * e['ece_test']:.2f}%"] for e in measured.values()]
    singles = [[f"`{e['name']}`", "", kib(e["bytes"]), f"{100 * held[e['name']]:.2f}%",
                f"{100 * e['test_accuracy']:.2f}%", "–"] for e in ranked[:4]]
    picks = choosing.pick({tuple(e["members"]): e["validation_accuracy"]
                           for e in measured.values()}, variants)
    emit("ensembles", table(["members", "registered as", "KiB", "held-out", "MNIST test",
                             "ECE (test)"], rows + singles)
         + f"\n\nCandidates by rule (`zoo/choosing.py`) from the architectures ranked on "
         f"{HELD_OUT:,} held-out training images; the last rows are the best single float32 "
         "variants there. The rule's picks (best held-out, a tie to the smaller): "
         + " and ".join(" + ".join(f"`{m}`" for m in s) for s in picks.values()) + ".",
         args.doc)


if __name__ == "__main__":
    main()
