"""Worst-case server cost of hostile input: time and peak memory per kind of request.

Each kind of input (the hostile requests found so far and the limits around them) is built
in a fresh Python process, which loads the variants first, then calls `Predictor.predict` on
it, as the app's /predict does, `--repeat` times. Printed per kind: the answer's status, the
worst wall and CPU time of one call, the peak of NumPy's and Python's allocations during one
more call (tracemalloc) and how far the process's peak RSS rose above its RSS before the
calls (which also counts OpenCV's own buffers). Every process is killed after `--timeout` s.

    python bench/hostile.py [--repeat 3] [--timeout 60] [--only NAME]

Its table is the `bench:hostile` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
from _common import emit, parser, table

VARIANTS = ["cnn-c32c64-float32", "mlp-h512x256-float32", "mlp-h128-float64",
            "mlp-h128-int8", "mlp-h128-int4"]


def _diagonal(size: int) -> np.ndarray:
    import cv2

    img = np.full((size, size), 255, np.uint8)
    cv2.line(img, (0, 0), (size - 1, size - 1), 0, 1)
    return img


def _nested(depth: int, key: str | None):
    root = {} if key else []
    node = root
    for _ in range(depth):
        child = {} if key else []
        if key:
            node[key] = child
        else:
            node.append(child)
        node = child
    return root


def _seven() -> np.ndarray:
    import cv2

    img = np.full((280, 280), 255, np.uint8)
    cv2.line(img, (70, 60), (200, 60), 0, 10, cv2.LINE_AA)
    cv2.line(img, (200, 60), (135, 230), 0, 10, cv2.LINE_AA)
    return img


def _noise(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


# name -> (what it is, a function building (drawing, variants))
CASES = {
    "reference": ("a drawn 7, 280x280 (a normal request)", lambda: (_seven(), VARIANTS)),
    "line-4096": ("4096x4096 white, 1-px diagonal line", lambda: (_diagonal(4096), VARIANTS)),
    "noise-4096": ("4096x4096 grey noise", lambda: (_noise((4096, 4096)), VARIANTS)),
    "noise-rgba-4000": ("4000x4000 RGBA noise (fractional scale)",
                        lambda: (_noise((4000, 4000, 4)), VARIANTS)),
    "int64-4096": ("4096x4096 int64 line (in-process callers only)",
                   lambda: (_diagonal(4096).astype(np.int64), VARIANTS)),
    "layers-4096": ("Sketchpad dict: 4096x4096 RGBA background + layer, no composite",
                    lambda: ({"composite": None, "background": _noise((4096, 4096, 4)),
                              "layers": [_noise((4096, 4096, 4))]}, VARIANTS)),
    "layers-1000": ("Sketchpad dict: 1,000 layers of 280x280",
                    lambda: ({"composite": None, "background": None,
                              "layers": [_seven()] * 1000}, VARIANTS)),
    "background-8000": ("Sketchpad dict: 8000x8000 background, no composite",
                        lambda: ({"composite": None, "background": np.full(
                            (8000, 8000), 255, np.uint8), "layers": []}, VARIANTS)),
    "names-100k": ("a 7 with one name listed 100,000 times",
                   lambda: (_seven(), ["mlp-h512x256-float64"] * 100_000)),
    "unknown-100k": ("a 7 with 100,000 different unknown names",
                     lambda: (_seven(), [f"v{i}" for i in range(100_000)])),
    "deep-dict": ("a Sketchpad dict nested 5,000 deep",
                  lambda: (_nested(5000, "composite"), VARIANTS)),
    "deep-list": ("a list nested 5,000 deep", lambda: (_nested(5000, None), VARIANTS)),
}


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(name: str, repeat: int) -> dict:
    """In this process: warm up, build the case, call predict `repeat` times."""
    from webapp.predictor import Predictor

    predictor = Predictor()
    predictor.predict(_seven(), VARIANTS)  # load the variants outside the measurement
    drawing, names = CASES[name][1]()
    rss_before = _rss_mib()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = predictor.predict(drawing, names)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    tracemalloc.start()  # once more, traced: tracing slows every allocation down
    predictor.predict(drawing, names)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    status = f"error: {result.message}" if result.status == "error" else result.status
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"status": status, "wall_ms": 1000 * max(walls), "cpu_ms": 1000 * max(cpus),
            "traced_mib": traced / 2**20, "rss_rise_mib": max(0.0, max_rss - rss_before)}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per kind of input")
    p.add_argument("--only", choices=sorted(CASES), action="append")
    p.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)  # the child
    args = p.parse_args()
    if args.case:  # the child process
        print(json.dumps(measure(args.case, args.repeat)))
        return
    rows = []
    for name in args.only or CASES:
        what = CASES[name][0]
        try:
            done = subprocess.run([sys.executable, __file__, "--case", name, "--repeat",
                                   str(args.repeat)], capture_output=True, text=True,
                                  timeout=args.timeout, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            rows.append([what, f"timed out after {args.timeout:.0f} s", "", "", "", ""])
            continue
        except subprocess.CalledProcessError as e:
            rows.append([what, f"crashed: {e.stderr.strip().splitlines()[-1]}", "", "", "", ""])
            continue
        status = r["status"] if len(r["status"]) < 60 else r["status"][:57] + "..."
        rows.append([what, status, f"{r['wall_ms']:.1f}", f"{r['cpu_ms']:.1f}",
                     f"{r['traced_mib']:.1f}", f"{r['rss_rise_mib']:.1f}"])
    emit("hostile", table(["input", "answer", "worst ms", "worst CPU ms", "peak traced MiB",
                           "peak RSS rise MiB"], rows)
         + f"\n\n`Predictor.predict` with {len(VARIANTS)} variants loaded beforehand; worst "
           f"of {args.repeat} calls per input, each input in a fresh process.", args.doc)


if __name__ == "__main__":
    main()
