"""The shipped zoo on pen-stroke drawings (engine/data/strokes.py).

MNIST figures flatter a classifier; this bench draws non-digits (stroke letters, symbols,
doodles, crossed-out digits, scribbles) and digits in printed styles (serif and flagged 1,
barred and serif 7, open and closed 4, Z-like 2, flat-top 3; small and off-centre; thick
and thin pens; strokes lifted midway) with `engine.data.strokes`, runs them through the
app's preprocessing and the shipped detector at its threshold, and every variant on the
digits. "Shown no digit" is what the page does with a non-digit: flagged by the detector,
or refused before it (blank, a dot, a canvas covered all over). The detector learns from
this generator (other seeds), so its rows here are fresh drawings of kinds it has seen;
how it does on a kind it has not is `bench/detector_logo.py`'s table. `train.py
--drawings` teaches the variants its digits in the training faces and styles
(zoo/drawings.py), so they are read on the held-out ones (a face or a style never trained
on: the manifest's drawn-digit set) per held-out style, and, beside them, on fresh
drawings in the faces and styles such a run trains on.

    MNIST_DIR=... python bench/held_out_drawings.py [--per-kind 300] [--per-style 600]
                                                    [--models DIR]

Its tables are the `bench:held-out` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from _common import emit, mnist, parser, table
from tqdm.auto import tqdm

import zoo
from engine.data.strokes import (
    DIGIT_STYLES,
    HELD_OUT_STYLES,
    NONDIGIT_KINDS,
    digit_drawings,
    held_out_digits,
    nondigit_drawings,
    training_digits,
)
from engine.model import logits
from engine.preprocess import preprocess
from zoo.detector import not_a_digit_probability
from zoo.drawings import PER_STYLE, SEED  # the manifest's drawn-digit set
from zoo.report import ordered


def pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:.1f}%" if n else "-"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--per-kind", type=int, default=300, help="non-digit drawings per kind")
    p.add_argument("--per-style", type=int, default=PER_STYLE,
                   help="digit drawings per style (the manifest's drawn figures: %(default)s)")
    p.add_argument("--models", metavar="DIR", help="the zoo to read (default: the shipped one)")
    args = p.parse_args()
    if args.doc and args.models:
        p.error("--doc describes the shipped zoo; drop --models")
    mnist(args.data)  # the zoo's MNIST figures sit beside these; fail early without data
    source = zoo.open(args.models)
    detector, threshold = source.load_detector(), source.manifest["detector"]["threshold"]

    n = args.per_kind * len(NONDIGIT_KINDS)
    refused, images, kinds = Counter(), [], []
    for drawing, kind in tqdm(nondigit_drawings(n, SEED), total=n, desc="non-digits"):
        pre = preprocess(drawing)
        if pre.ok:
            images.append(pre.x[0])
            kinds.append(kind)
        else:
            refused[kind] += 1
    kinds_a = np.array(kinds)
    flagged = not_a_digit_probability(detector, np.stack(images)) > threshold
    rows = []
    for kind in (*NONDIGIT_KINDS, "all"):
        mine = kinds_a == kind if kind != "all" else np.ones(len(kinds_a), bool)
        total = args.per_kind * (len(NONDIGIT_KINDS) if kind == "all" else 1)
        stopped = sum(refused.values()) if kind == "all" else refused[kind]
        rows.append([kind, f"{total:,}", pct(int(flagged[mine].sum()) + stopped, total),
                     pct(int(flagged[mine].sum()), total), pct(stopped, total),
                     pct(int((~flagged[mine]).sum()), total)])
    out = [table(["non-digit kind", "drawings", "shown no digit", "flagged by the detector",
                  "refused before it (blank, dot, covered)", "answered as a digit"], rows)]

    n = args.per_style * len(DIGIT_STYLES)
    styles, images, stopped_d = [], [], Counter()
    for drawing, _, style in tqdm(digit_drawings(n, SEED), total=n, desc="digits"):
        pre = preprocess(drawing)
        if pre.ok:
            images.append(pre.x[0])
            styles.append(style)
        else:
            stopped_d[style] += 1
    x, styles_a = np.stack(images), np.array(styles)
    refused_d = not_a_digit_probability(detector, x) > threshold
    rows = []
    for style in (*DIGIT_STYLES, "all"):
        mine = styles_a == style if style != "all" else np.ones(len(styles_a), bool)
        total = args.per_style * (len(DIGIT_STYLES) if style == "all" else 1)
        stop = sum(stopped_d.values()) if style == "all" else stopped_d[style]
        rows.append([style, f"{total:,}", pct(int(refused_d[mine].sum()), total),
                     pct(stop, total)])
    out.append(table(["digit style", "drawings", "refused as not a digit",
                      "refused before the detector (a dot, covered)"], rows))

    held = read(held_out_digits(args.per_style * len(HELD_OUT_STYLES), SEED))
    seen = read(training_digits(args.per_style * len(HELD_OUT_STYLES), SEED))
    rows = []
    for e in ordered(source.manifest):
        model = source.load(e["name"])
        right = logits(model, held[0]).argmax(axis=1) == held[1]
        by_style = [f"{100 * right[held[2] == s].mean():.1f}%" for s in HELD_OUT_STYLES]
        trained = (logits(model, seen[0]).argmax(axis=1) == seen[1]).mean()
        rows.append([f"`{e['name']}`", f"{100 * e['test_accuracy']:.2f}%",
                     f"{100 * right.mean():.2f}%", *by_style, f"{100 * trained:.2f}%"])
    out.append(table(["variant", "MNIST test", "held-out drawn digits",
                      *(f"{s}{' (held-out faces)' if s == 'printed' else ''}"
                        for s in HELD_OUT_STYLES), "as trained (fresh drawings)"], rows))
    emit("held-out", "\n\n".join(out) + f"\n\n{args.per_kind} non-digits per kind and "
         f"{args.per_style} digits per style from `engine.data.strokes` (seed {SEED}), "
         f"through the app's preprocessing; the detector at its shipped threshold "
         f"({threshold:.3f}; it trained on this generator with other seeds); variants read "
         f"the {len(held[1]):,} held-out digits the preprocessing passed (the manifest's "
         f"set, detector or not) and {len(seen[1]):,} fresh ones in the training faces and "
         "styles.", args.doc)


def read(triples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, labels, styles) of the (drawing, label, style) triples the preprocessing passes."""
    kept = [(pre.x[0], label, style) for d, label, style in triples
            if (pre := preprocess(d)).ok]
    x, y, styles = zip(*kept)
    return np.stack(x), np.array(y), np.array(styles)


if __name__ == "__main__":
    main()
