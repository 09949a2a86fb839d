"""The accuracy-per-byte frontier: every shipped variant no other beats on both size and
MNIST test accuracy, with its accuracy on drawn digits, the size goals set for it, and the
published points it is measured against.

Size is every byte a variant ships (weights file with its header, and config.json).

    MNIST_DIR=... python bench/frontier.py [--n 2000] [--all] [--models DIR]

Its table is the `bench:frontier` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import numpy as np
from _common import emit, mnist, parser, table
from tqdm.auto import tqdm

import zoo
from engine.data.drawn import drawn_digits
from engine.model import evaluate
from engine.preprocess import preprocess
from zoo.frontier import REFERENCES, pareto, smallest_reaching
from zoo.report import kib

GOALS = [(0.99, 16 * 1024, "99.0% in 16 KiB"), (0.98, 8 * 1024, "98.0% in 8 KiB"),
         (0.99, 8 * 1024, "99.0% in 8 KiB"),
         (0.995, 16 * 1024, "99.5% in 16 KiB (floor)"), (0.995, 8 * 1024, "99.5% in 8 KiB (goal)"),
         (0.99, 4 * 1024, "99.0% in 4 KiB (floor)"), (0.99, 2 * 1024, "99.0% in 2 KiB (goal)"),
         (0.98, 1024, "98.0% in 1 KiB")]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=2000, help="drawn digits (from the test set)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--all", action="store_true", help="list every variant, not only the front")
    p.add_argument("--models", help="models folder (default: the shipped models/)")
    args = p.parse_args()
    data = mnist(args.data)
    drawings = list(tqdm(drawn_digits(data.test_images, data.test_labels, args.n, args.seed),
                         total=args.n, desc="draw + preprocess"))
    x = np.stack([preprocess(d).image for d, _ in drawings])
    y = np.array([label for _, label in drawings])
    source = zoo.open(args.models)
    entries = list(source.manifest["variants"].values())
    front = {e["name"] for e in pareto(entries)}
    shown = sorted(entries if args.all else pareto(entries), key=lambda e: e["bytes"])
    rows = []
    for e in tqdm(shown, desc="drawn digits"):
        drawn = evaluate(source.load(e["name"]), x, y) / len(y)
        rows.append([f"`{e['name']}`" + (" ★" if e["name"] in front and args.all else ""),
                     f"{e['bytes']:,}", kib(e["bytes"]), f"{100 * e['test_accuracy']:.2f}%",
                     f"{100 * drawn:.2f}%", "QAT" if e.get("qat") else "PTQ" if e["parent"]
                     else "trained"])
    out = [table(["variant", "bytes", "KiB", "MNIST test", "drawn digits", "weights"], rows)]
    goal_rows = []
    for acc, limit, label in GOALS:
        best = smallest_reaching(entries, acc)
        ok = best is not None and best["bytes"] <= limit
        goal_rows.append([label, "reached" if ok else "not reached",
                          f"`{best['name']}`, {kib(best['bytes'])} KiB, "
                          f"{100 * best['test_accuracy']:.2f}%" if best else "none"])
    out.append(table(["goal", "", "smallest variant at that accuracy"], goal_rows))
    two_bit = [e for e in entries if e["bits"] == 2]
    out.append(table(["2-bit variant", "KiB", "MNIST test", "float parent", "Δ (pts)",
                      "rounded after training"],
                     [[f"`{e['name']}`", kib(e["bytes"]), f"{100 * e['test_accuracy']:.2f}%",
                       f"{100 * e['parent_accuracy']:.2f}%", f"{e['delta_to_parent']:+.2f}",
                       f"{100 * e['qat']['ptq_accuracy']:.2f}%" if e.get("qat") else "–"]
                      for e in sorted(two_bit, key=lambda e: e["bytes"])]))
    out.append(table(["published point (not like for like: weights only)", "bytes",
                      "MNIST test"],
                     [[label, f"{size:,}", f"{100 * acc:.2f}%"]
                      for label, size, acc, _ in sorted(REFERENCES, key=lambda r: r[1])]))
    what = "Every variant (★: on the front)" if args.all else "The front"
    emit("frontier", "\n\n".join(out) + f"\n\n{what} of {len(entries)} variants; drawn "
         f"digits: {args.n} (seed {args.seed}) through the app's preprocessing.", args.doc)


if __name__ == "__main__":
    main()
