"""Server time of one app prediction: preprocessing plus the variants, as the app runs it.

Calls the same `Predictor.predict` the app's /predict event calls, on drawn-like digits
(280x280 canvases, as the Sketchpad sends), after a warm-up that loads the variants.

    MNIST_DIR=... python bench/app_latency.py [--n 300]

Its table is the `bench:app` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import time

import numpy as np
from _common import emit, mnist, parser, table

from engine.data.drawn import drawn_digits
from engine.preprocess import preprocess
from webapp.predictor import Predictor

MLPS = ["mlp-h128-float64", "mlp-h128-float32", "mlp-h128-int8", "mlp-h128-int4",
        "mlp-h512-float32", "mlp-h512x256-float32"]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=300)
    args = p.parse_args()
    data = mnist(args.data)
    drawings = [d for d, _ in drawn_digits(data.test_images, data.test_labels, args.n, 1, 280)]
    predictor = Predictor()
    names = MLPS + [e["name"] for e in predictor.entries if e.get("family") == "cnn"]
    predictor.predict(drawings[0], names)  # load every variant once, as the app does
    total, pre, per_variant = [], [], {n: [] for n in names}
    for d in drawings:
        start = time.perf_counter()
        result = predictor.predict(d, names)
        total.append(1000 * (time.perf_counter() - start))
        for name, ms in result.ms.items():
            per_variant[name].append(ms)
        start = time.perf_counter()
        preprocess(d)
        pre.append(1000 * (time.perf_counter() - start))
    rows = [[f"whole prediction (preprocess + {len(names)} variants)", f"{np.median(total):.2f}",
             f"{np.percentile(total, 90):.2f}"],
            ["preprocessing alone", f"{np.median(pre):.2f}", f"{np.percentile(pre, 90):.2f}"]]
    rows += [[f"`{n}` inference", f"{np.median(v):.3f}", f"{np.percentile(v, 90):.3f}"]
             for n, v in per_variant.items()]
    emit("app", table(["server time per drawing", "median ms", "p90 ms"], rows) +
         f"\n\n{args.n} drawn digits on 280x280 canvases; variants loaded once beforehand.",
         args.doc)


if __name__ == "__main__":
    main()
