"""Saying "not a digit": how often each method flags non-digits, drawn digits and MNIST
test digits, and the detector's risk-coverage trade-off.

The evaluation set is built here and never trained on: non-digit drawings from all eleven
generators the detector learns from (`zoo.detector.non_digits`: fonts and pen strokes) with
their own seed (numbers drawn from MNIST *test* digits), digits
redrawn from the MNIST test set (`engine.data.drawn`), and the MNIST test set itself. Every
method's threshold is chosen on held-out training images (the last 5,000, which no model
trained on) for the same false-alarm budgets as the detector's, never on this set.

    MNIST_DIR=... python bench/not_a_digit.py [--per-kind 200] [--drawn 2000]

Its table is the `bench:not-a-digit` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import numpy as np
from _common import emit, mnist, parser, table

import zoo
from engine.calibration import calibrated
from engine.data.drawn import drawn_digits
from engine.model import logits
from engine.preprocess import preprocess
from engine.training import to_input
from zoo.detector import (
    GENERATORS,
    NAME,
    as_images,
    non_digits,
    not_a_digit_probability,
    threshold_for,
)

EVAL_SEED = 7  # not a seed the detector's training (0, 1000) or threshold (2000) used
HELD_OUT = 5000


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--per-kind", type=int, default=200, help="non-digit drawings per kind")
    p.add_argument("--drawn", type=int, default=2000, help="drawn test digits")
    args = p.parse_args()
    data = mnist(args.data)
    n_nd = args.per_kind * len(GENERATORS)
    nd, kinds = [], []
    for i, drawing in enumerate(non_digits(n_nd, EVAL_SEED, data.test_images)):
        kind = " ".join(GENERATORS[i % len(GENERATORS)])
        pre = preprocess(drawing)
        if pre.ok:  # blank/stray/full have their own hints and never reach a model
            nd.append(pre.image)
            kinds.append(kind)
    x_nd, kinds = np.stack(nd), np.array(kinds)
    x_drawn = to_input(as_images(drawn_digits(data.test_images, data.test_labels, args.drawn,
                                              EVAL_SEED), args.drawn, "drawn digits", True))
    y_drawn = data.test_labels[:args.drawn]
    x_test, y_test = to_input(data.test_images), data.test_labels
    held = data.train_images[-HELD_OUT:]
    x_held = to_input(held)
    x_held_drawn = to_input(as_images(drawn_digits(held, data.train_labels[-HELD_OUT:], 2000,
                                                   11), 2000, "held-out drawn", True))
    source = zoo.open()
    sets = {"non-digits": x_nd, "drawn": x_drawn, "test": x_test,
            "held": x_held, "held drawn": x_held_drawn}

    def scores_of(name: str) -> dict[str, np.ndarray]:
        """1 - calibrated max probability: high when the variant is unsure."""
        model = source.load(name)
        t = source.manifest["variants"][name].get("temperature", 1.0)
        return {k: 1 - calibrated(logits(model, x), t).max(axis=1) for k, x in sets.items()}

    def answers_of(name: str) -> dict[str, np.ndarray]:
        model = source.load(name)
        return {k: logits(model, x).argmax(axis=1) for k, x in sets.items()}

    entries = list(source.manifest["variants"].values())
    best = {fam: max((e for e in entries if e.get("family") == fam and e["precision"] ==
                      "float32"), key=lambda e: e["test_accuracy"])["name"]
            for fam in ("cnn", "mlp")}
    methods: dict[str, dict[str, np.ndarray]] = {}
    for name in best.values():
        methods[f"low confidence of {name} (calibrated)"] = scores_of(name)
    a, b = answers_of(best["cnn"]), answers_of(best["mlp"])
    methods[f"{best['cnn']} and {best['mlp']} disagree"] = {
        k: (a[k] != b[k]).astype(float) for k in sets}
    detector = source.load_detector()
    if detector is not None:
        methods[f"detector ({NAME})"] = {k: not_a_digit_probability(detector, x)
                                         for k, x in sets.items()}
        methods["detector, or the two disagree"] = {
            k: np.maximum(methods[f"detector ({NAME})"][k] > source.manifest["detector"]
                          ["threshold"], a[k] != b[k]).astype(float) for k in sets}
    rows = []
    for label, s in methods.items():
        if label.startswith("detector ("):
            t = source.manifest["detector"]["threshold"]
        elif s["held"].max() <= 1 and set(np.unique(s["held"])) <= {0.0, 1.0}:
            t = 0.5  # a yes/no rule has no threshold to choose
        else:
            t = threshold_for(s["held"], s["held drawn"])
        flagged = {k: (v > t) for k, v in s.items()}
        per_kind = ", ".join(f"{k} {100 * flagged['non-digits'][kinds == k].mean():.0f}%"
                             for k in (" ".join(g) for g in GENERATORS))
        rows.append([label, pct(flagged["non-digits"].mean()), pct(flagged["drawn"].mean()),
                     pct(flagged["test"].mean()), per_kind])
    out = [table(["method", "non-digits flagged", "drawn digits flagged",
                  "MNIST test flagged", "non-digits flagged, by kind"], rows)]
    if detector is not None:
        # risk-coverage: among the digits the app answers, how many does the best CNN miss
        cnn = source.load(best["cnn"])
        wrong_test = logits(cnn, x_test).argmax(axis=1) != y_test
        wrong_drawn = logits(cnn, x_drawn).argmax(axis=1) != y_drawn
        s = methods[f"detector ({NAME})"]
        rc = []
        for t in (0.05, 0.1, 0.2, 0.3, 0.5, source.manifest["detector"]["threshold"], 0.7,
                  0.9, 0.97, 0.99):
            kept_t, kept_d = s["test"] <= t, s["drawn"] <= t
            rc.append([f"{t:.3f}" + (" (shipped)" if t == source.manifest["detector"]
                                     ["threshold"] else ""),
                       pct(kept_t.mean()), pct(wrong_test[kept_t].mean()),
                       pct(kept_d.mean()), pct(wrong_drawn[kept_d].mean()),
                       pct((s["non-digits"] > t).mean())])
        out.append(table(["threshold", "MNIST test answered", f"{best['cnn']} error on "
                          "those", "drawn answered", "error on those", "non-digits flagged"],
                         sorted(rc, key=lambda r: float(r[0].split()[0]))))
    emit("not-a-digit", "\n\n".join(out) + f"\n\n{len(x_nd)} non-digit drawings (of {n_nd}: "
         f"the rest were blank, stray or full), {args.drawn} drawn test digits, 10,000 MNIST "
         "test digits; thresholds chosen on held-out training images.", args.doc)


if __name__ == "__main__":
    main()
