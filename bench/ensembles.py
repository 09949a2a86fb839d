"""Which variants should vote: candidate ensembles on held-out and test images.

Each candidate averages its members' calibrated probabilities (zoo.voting), as a registered
ensemble does. The registered ensemble is the candidate with the best accuracy on the 5,000
held-out training images (no variant trained on them); the test column is reported, never
chosen on. Candidates are built by rule, not searched: the most accurate architectures on
held-out images, in int8 (as accurate as float at a quarter of the bytes) and in 2 bits.

    MNIST_DIR=... python bench/ensembles.py [--models DIR]

Its table is the `bench:ensembles` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

from _common import emit, mnist, parser, table

import zoo
from zoo import voting
from zoo.registry import Ensemble
from zoo.report import kib

HELD_OUT = 5000  # the last training images, as train.py keeps them out


def candidates(best: list[str], mlp: str) -> list[list[str]]:
    """Sets of architectures, by rule: the best two, three and four CNNs; the best two and
    three with the best MLP (another family's mistakes); the best CNN with the MLP."""
    return [best[:2], best[:3], best[:4], [*best[:2], mlp], [*best[:3], mlp], [best[0], mlp]]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--models", help="models folder (default: the shipped models/)")
    args = p.parse_args()
    data = mnist(args.data)
    x_held, y_held = data.train_images[-HELD_OUT:], data.train_labels[-HELD_OUT:]
    x_test, y_test = data.test_images, data.test_labels
    source = zoo.open(args.models)
    variants = source.manifest["variants"]
    floats = [e for e in variants.values() if e["precision"] == "float32"]
    probs = voting.calibrated_probabilities([e["name"] for e in floats], variants,
                                            source.load, x_held)
    held = {n: float((p.argmax(1) == y_held).mean()) for n, (p,) in probs.items()}
    ranked = sorted(floats, key=lambda e: -held[e["name"]])
    cnns = [e["architecture"] for e in ranked if e.get("family") == "cnn"]
    mlp = next(e["architecture"] for e in ranked if e.get("family") == "mlp")
    registered = {tuple(e.members): e.name for e in zoo.ensembles()}
    sets = [tuple(f"{a}-{precision}" for a in archs)
            for precision in ("int8", "int2") for archs in candidates(cnns, mlp)]
    sets = [names for names in sets if all(n in variants for n in names)]
    measured = voting.measure([Ensemble(" + ".join(n), n) for n in sets], variants,
                              source.load, (x_held, y_held), (x_test, y_test), "")
    rows = [[" + ".join(f"`{m}`" for m in e["members"]),
             registered.get(tuple(e["members"]), ""), kib(e["bytes"]),
             f"{100 * e['validation_accuracy']:.2f}%", f"{100 * e['test_accuracy']:.2f}%",
             f"{100 * e['ece_test']:.2f}%"] for e in measured.values()]
    singles = [[f"`{e['name']}`", "", kib(e["bytes"]), f"{100 * held[e['name']]:.2f}%",
                f"{100 * e['test_accuracy']:.2f}%", "–"] for e in ranked[:4]]
    # The pick: best on the held-out images; a tie (one image is 0.02 points) goes to the
    # smaller set, not to the test column.
    picks = [max((e for e in measured.values() if e["members"][0].endswith(precision)),
                 key=lambda e: (e["validation_accuracy"], -e["bytes"]))
             for precision in ("-int8", "-int2")]
    emit("ensembles", table(["members", "registered as", "KiB", "held-out", "MNIST test",
                             "ECE (test)"], rows + singles)
         + f"\n\nCandidates by rule from the architectures ranked on {HELD_OUT:,} held-out "
         "training images; the last rows are the best single float32 variants there. The "
         "rule's picks (best held-out, a tie to the smaller): "
         + " and ".join(" + ".join(f"`{m}`" for m in e["members"]) for e in picks) + ".",
         args.doc)


if __name__ == "__main__":
    main()
