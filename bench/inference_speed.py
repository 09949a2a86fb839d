"""Inference speed of every shipped variant: the engine vs ONNX Runtime and PyTorch.

Batch throughput: the 10,000 MNIST test images in one call (images per second).
Latency: one image per call (microseconds).
Peers run the *same* layers and weights (bench/peers.py): an ONNX graph built with
onnx.helper from each variant's decoded tensors (quantised weights times their scales), and
PyTorch on those tensors; MLPs and CNNs alike. For
int8 variants ONNX Runtime also runs `onnxruntime.quantization.quantize_dynamic` of the float
parent: true int8 kernels, the peer the engine's weight-only int8 is measured against.
All peers output softmax probabilities, as `predict_proba` does, and are checked against
the engine's (np.allclose, atol 1e-4) before anything is timed.

The libraries take turns in rounds, variant by variant (engine, ORT, ORT int8, PyTorch,
engine, ...; bench/_common.py's `take_turns`): a warm-up round, then `--rounds` timed
ones, with a pause before each turn so the idle worker threads of the library before
sleep. In a turn, a library times the batch (the median of as many calls as fit in
BATCH_SECONDS, at least one) on an instance kept from the warm-up round, so ONNX
Runtime's memory arena has grown as in a server; then one image at a time on a fresh
model or session (where the weights land in memory moves one-image latency by up to 30%,
so each round samples that again): the median of `--calls` calls after WARM_CALLS
untimed ones. Each figure is the median over the rounds, with the range of the rounds
beside it; a ratio is the ratio of the medians, with the range of the round-by-round
ratios.

    MNIST_DIR=... python bench/inference_speed.py [--threads 2] [--rounds 5] [--calls 200]
        [--variants 'mlp-h32-*']

Its table is the `bench:inference` block of docs/benchmarks.md; `--doc docs/benchmarks.md`
rewrites it there.
"""

from __future__ import annotations

import fnmatch
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import (
    emit,
    mnist,
    parser,
    ratio_spread,
    sgemm_note,
    sgemm_rates,
    spread,
    table,
    take_turns,
)
from peers import onnx_bytes, ort_session, torch_predict
from threadpoolctl import threadpool_limits

import zoo
from engine import parallel
from engine.training import to_input
from zoo.report import ordered

Predict = Callable[[np.ndarray], np.ndarray]
PAUSE = 0.2  # seconds before each turn: OpenBLAS's idle threads spin for about 0.1 s
BATCH_SECONDS = 0.1  # a turn's batch calls: several for the MLPs, one for the larger CNNs
WARM_CALLS = 20


def dynamic_int8_bytes(model) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        src.write_bytes(onnx_bytes(model))
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return dst.read_bytes()


def images_per_second(fn: Predict, x: np.ndarray) -> float:
    times: list[float] = []
    while not times or sum(times) < BATCH_SECONDS:
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return len(x) / statistics.median(times)


def latency_us(fn: Predict, rows: list[np.ndarray]) -> float:
    for r in rows[:WARM_CALLS]:
        fn(r)
    times = []
    for r in rows:
        start = time.perf_counter()
        fn(r)
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def engine_batch(model, threads: int) -> Predict:
    """The engine in batch: a CNN's chunks of images shared among `threads` threads
    (engine/parallel.py, BLAS then at one thread each); an MLP's products threaded by BLAS."""
    def predict(x: np.ndarray) -> np.ndarray:
        with parallel.for_model(model, threads):
            return model.predict_proba(x)
    return predict


def turn(batch_fn: Predict, make: Callable[[], Predict], x: np.ndarray, rows: list[np.ndarray]
         ) -> Callable[[], tuple[float, float]]:
    """One library's turn: (images/s in batch, µs for one image on a fresh instance)."""
    return lambda: (images_per_second(batch_fn, x), latency_us(make(), rows))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (after one warm-up)")
    p.add_argument("--calls", type=int, default=200, help="one-image calls per round")
    p.add_argument("--variants", default="*", help="shell pattern of variant names")
    args = p.parse_args()
    if args.rounds < 1 or args.calls < 1:
        raise SystemExit("--rounds and --calls must be at least 1")
    data = mnist(args.data)
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
        print("onnxruntime is not installed (pip install -r requirements-bench.txt)")
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("PyTorch is not installed (pip install -r requirements-bench.txt)")
    shipped = zoo.open()
    entries = [e for e in ordered(shipped.manifest)
               if fnmatch.fnmatchcase(e["name"], args.variants)]
    if not entries:
        raise SystemExit(f"no shipped variant matches {args.variants!r}")
    batch_rows, latency_rows = [], []
    own: dict[str, list[float]] = {}
    load = shipped.load
    before = sgemm_rates([args.threads])
    with threadpool_limits(limits=args.threads):
        for e in entries:
            name, model = e["name"], load(e["name"])
            # Factories: each round's latency runs on a fresh instance.
            makers: dict[str, Callable[[], Predict]] = {
                "engine": lambda n=name: load(n).predict_proba}
            # ONNX Runtime has no float64 convolution kernel: no ORT figure for those.
            if onnxruntime is not None and not (e["bits"] == 64 and e.get("family") == "cnn"):
                graph = onnx_bytes(model)
                makers["ORT"] = lambda m=model, g=graph: ort_session(m, args.threads, g)
                if e["precision"] == "int8":
                    parent = load(e["parent"])
                    q = dynamic_int8_bytes(parent)
                    makers["ORT int8"] = lambda m=parent, q=q: ort_session(m, args.threads, q)
            if torch is not None:
                makers["PyTorch"] = lambda n=name: torch_predict(load(n))
            x = to_input(data.test_images, model.dtype)
            rows = [x[i:i + 1] for i in range(min(args.calls, len(x)))]
            batch_fns = {k: make() for k, make in makers.items()}
            batch_fns["engine"] = engine_batch(load(name), args.threads)
            reference = batch_fns["engine"](x[:100])
            for k in ("ORT", "PyTorch"):  # the peers compute the same function
                if k in batch_fns:
                    assert np.allclose(batch_fns[k](x[:100]), reference, atol=1e-4), (name, k)
            runs = take_turns({k: turn(batch_fns[k], makers[k], x, rows) for k in makers},
                              args.rounds, PAUSE)
            del batch_fns
            gc.collect()
            tp = {k: [r[0] for r in v] for k, v in runs.items()}
            lat = {k: [r[1] for r in v] for k, v in runs.items()}
            own[name] = tp["engine"]
            sibling = own.get(f"{e['architecture']}-float32")
            vs_f32 = (f"{statistics.median(tp['engine']) / statistics.median(sibling):.2f}x"
                      if sibling and e["bits"] < 32 else "–")

            def cell(d: dict[str, list[float]], k: str, fmt: str) -> str:
                return spread(d[k], fmt) if k in d else "–"

            def ratio(d: dict[str, list[float]]) -> str:
                return ratio_spread(d["engine"], d["ORT"]) if "ORT" in d else "–"

            batch_rows.append([f"`{name}`", cell(tp, "engine", "{:,.0f}"), vs_f32,
                               cell(tp, "ORT", "{:,.0f}"), ratio(tp),
                               cell(tp, "ORT int8", "{:,.0f}"), cell(tp, "PyTorch", "{:,.0f}")])
            latency_rows.append([f"`{name}`", cell(lat, "engine", "{:.1f}"),
                                 cell(lat, "ORT", "{:.1f}"), ratio(lat),
                                 cell(lat, "ORT int8", "{:.1f}"), cell(lat, "PyTorch", "{:.1f}")])
            print(batch_rows[-1], latency_rows[-1], flush=True)
    after = sgemm_rates([args.threads])
    peers = []
    if onnxruntime is not None:
        peers.append(f"ONNX Runtime {onnxruntime.__version__}")
    if torch is not None:
        peers.append(f"PyTorch {torch.__version__}")
    rounds = (f"the median over {args.rounds} rounds, the libraries taking turns, with the "
              "range of the rounds in brackets")
    text = (f"Batch: the 10,000 test images in one call, images per second (higher is better): "
            f"{rounds}; engine/ORT above 1 means the engine is faster (ratio of the medians, "
            "with the range of the round-by-round ratios).\n\n" +
            table(["variant", "engine img/s", "vs its float32", "ORT img/s", "engine / ORT",
                   "ORT dynamic int8 img/s", "PyTorch img/s"], batch_rows) +
            f"\n\nLatency: one image per call, microseconds (lower is better): the median of "
            f"{args.calls} calls on a fresh model or session each round, then {rounds}; "
            "engine/ORT below 1 means the engine is faster.\n\n" +
            table(["variant", "engine µs", "ORT µs", "engine / ORT", "ORT dynamic int8 µs",
                   "PyTorch µs"], latency_rows) +
            f"\n\n{args.threads} threads for every library (threadpoolctl, "
            f"torch.set_num_threads, ORT's intra-op threads; the engine's CNNs share a batch's "
            f"chunks of images among that many threads, engine/parallel.py), a {PAUSE} s "
            f"pause before each "
            f"turn; peers: {', '.join(peers) or 'none'}.")
    emit("inference", text, args.doc, sgemm=sgemm_note(before, after))


if __name__ == "__main__":
    main()
