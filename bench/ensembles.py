"""Which variants should vote: candidate ensembles on held-out and test images.

Each candidate averages its members' calibrated probabilities (zoo.voting), as a registered
ensemble does, read as given or in every test-time view (engine.views). The candidates and
the pick are zoo/choosing.py's rule, judged on the 5,000 held-out training images (no
variant trained on them); the test column is reported, never chosen on.

    MNIST_DIR=... python bench/ensembles.py [--models DIR]

Its table is the `bench:ensembles` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

from _common import emit, mnist, parser, table

import zoo
from engine.views import AS_GIVEN, VIEWS
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
    registered = {(e.members, e.views): e.name for e in zoo.ensembles()}
    sets = choosing.readings(choosing.candidates(variants, held))
    # The best single networks read in every view too: what the views do without a vote.
    sets += [((e["name"],), VIEWS) for e in ranked[:2]]
    measured = voting.measure([Ensemble(str(i), m, views=v) for i, (m, v) in enumerate(sets)],
                              variants, source.load, (x_held, y_held), (x_test, y_test), "")
    rows = [[" + ".join(f"`{m}`" for m in e["members"]), _views(e["views"]),
             registered.get((tuple(e["members"]), tuple(e["views"])), ""), kib(e["bytes"]),
             f"{100 * e['validation_accuracy']:.2f}%", f"{100 * e['test_accuracy']:.2f}%",
             f"{100 * e['ece_test']:.2f}%"] for e in measured.values()]
    singles = [[f"`{e['name']}`", _views([AS_GIVEN]), "", kib(e["bytes"]),
                f"{100 * held[e['name']]:.2f}%", f"{100 * e['test_accuracy']:.2f}%", "–"]
               for e in ranked[:4]]
    picks = choosing.pick({(tuple(e["members"]), tuple(e["views"])): e["validation_accuracy"]
                           for e in measured.values() if len(e["members"]) > 1}, variants)
    emit("ensembles", table(["members", "views", "registered as", "KiB", "held-out",
                             "MNIST test", "ECE (test)"], rows + singles)
         + f"\n\nCandidates by rule (`zoo/choosing.py`) from the architectures ranked on "
         f"{HELD_OUT:,} held-out training images, each read as given and in all "
         f"{len(VIEWS)} views (`engine/views.py`); then the best two single networks in every "
         "view, and the best single float32 variants as given (not candidates). The rule's "
         "picks (best held-out, a tie to the smaller, then to fewer views): "
         + " and ".join(" + ".join(f"`{m}`" for m in s) + f" ({_views(v)})"
                        for s, v in picks.values()) + ".",
         args.doc)


def _views(names: list[str] | tuple[str, ...]) -> str:
    return "as given" if list(names) == [AS_GIVEN] else f"{len(names)} views"


if __name__ == "__main__":
    main()
