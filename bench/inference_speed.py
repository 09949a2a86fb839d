"""Inference speed of every shipped variant: the engine vs ONNX Runtime and PyTorch.

Batch throughput: the 10,000 MNIST test images in one call (images per second).
Latency: one image per call, median over 1,000 calls (microseconds).
Peers run the *same* layers and weights (bench/peers.py): an ONNX graph built with
onnx.helper from each variant's decoded tensors (quantised weights times their scales), and
PyTorch on those tensors; MLPs and CNNs alike. For
int8 variants ONNX Runtime also runs `onnxruntime.quantization.quantize_dynamic` of the float
parent: true int8 kernels, the peer the engine's weight-only int8 is measured against.
All peers output softmax probabilities, as `predict_proba` does.

    MNIST_DIR=... python bench/inference_speed.py [--threads 2] [--calls 1000]
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import emit, mnist, parser, table
from peers import onnx_bytes, ort_session, torch_predict
from threadpoolctl import threadpool_limits

import zoo
from engine.training import to_input
from zoo.report import ordered

LOADS = 3  # where the weights land in memory moves single-image latency by up to 30%


def ort_dynamic_int8(model, threads: int):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        src.write_bytes(onnx_bytes(model))
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return ort_session(model, threads, dst.read_bytes())


def throughput(fn, x: np.ndarray, repeats: int = 7) -> float:
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return len(x) / statistics.median(times)


def latency_us(fn, x: np.ndarray, calls: int) -> float:
    rows = [x[i:i + 1] for i in range(min(calls, len(x)))]
    for r in rows[:50]:
        fn(r)
    times = []
    for r in rows:
        start = time.perf_counter()
        fn(r)
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--variants", default="*", help="shell pattern of variant names")
    args = p.parse_args()
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
    import fnmatch
    shipped = zoo.open()
    entries = [e for e in ordered(shipped.manifest)
               if fnmatch.fnmatchcase(e["name"], args.variants)]
    batch_rows, latency_rows = [], []
    own = {}
    load = shipped.load
    with threadpool_limits(limits=args.threads):
        for e in entries:
            # Factories, not functions: latency is measured over fresh loads (see LOADS).
            makers = {"engine": lambda n=e["name"]: load(n).predict_proba}
            # ONNX Runtime has no float64 convolution kernel: no ORT figure for those.
            if onnxruntime is not None and not (e["bits"] == 64 and e.get("family") == "cnn"):
                makers["ORT"] = lambda n=e["name"]: ort_session(load(n), args.threads)
                if e["precision"] == "int8":
                    makers["ORT int8"] = lambda p=e["parent"]: ort_dynamic_int8(load(p),
                                                                                args.threads)
            if torch is not None:
                makers["PyTorch"] = lambda n=e["name"]: torch_predict(load(n))
            x = to_input(data.test_images, load(e["name"]).dtype)
            tp, lat, reference = {}, {}, None
            # One library alive at a time, the engine first: ORT's and PyTorch's idle worker
            # threads spin for a while after each call and would take the core BLAS needs.
            for k, make in makers.items():
                fn = make()
                out = fn(x[:100])
                if reference is None:
                    reference = out
                elif k in ("ORT", "PyTorch"):  # the peers compute the same function
                    assert np.allclose(out, reference, atol=1e-4), (e["name"], k)
                tp[k] = throughput(fn, x)
                lat[k] = statistics.median([latency_us(fn if i == 0 else make(), x, args.calls)
                                            for i in range(LOADS)])
                del fn
                gc.collect()
                time.sleep(0.5)  # let any spinning worker threads go to sleep
            own[e["name"]] = tp["engine"]
            sibling = own.get(f"{e['architecture']}-float32")
            vs_f32 = f"{tp['engine'] / sibling:.2f}x" if sibling and e["bits"] < 32 else "–"

            def cell(d, k, fmt):
                return fmt.format(d[k]) if k in d else "–"

            batch_rows.append([f"`{e['name']}`", f"{tp['engine']:,.0f}", vs_f32,
                               cell(tp, "ORT", "{:,.0f}"),
                               f"**{tp['engine'] / tp['ORT']:.2f}x**" if "ORT" in tp else "–",
                               cell(tp, "ORT int8", "{:,.0f}"), cell(tp, "PyTorch", "{:,.0f}")])
            latency_rows.append([f"`{e['name']}`", f"{lat['engine']:.1f}",
                                 cell(lat, "ORT", "{:.1f}"),
                                 f"**{lat['engine'] / lat['ORT']:.2f}x**" if "ORT" in lat
                                 else "–", cell(lat, "ORT int8", "{:.1f}"),
                                 cell(lat, "PyTorch", "{:.1f}")])
            print(batch_rows[-1], latency_rows[-1], flush=True)
    peers = []
    if onnxruntime is not None:
        import onnxruntime as ort
        peers.append(f"ONNX Runtime {ort.__version__}")
    if torch is not None:
        peers.append(f"PyTorch {torch.__version__}")
    text = ("Batch: the 10,000 test images in one call, images per second (higher is better); "
            "engine/ORT above 1 means the engine is faster.\n\n" +
            table(["variant", "engine img/s", "vs its float32", "ORT img/s", "engine / ORT",
                   "ORT dynamic int8 img/s", "PyTorch img/s"], batch_rows) +
            f"\n\nLatency: one image per call, microseconds (lower is better): the median of "
            f"{args.calls} calls, then the median over {LOADS} fresh loads of the model or "
            "session; engine/ORT below 1 means the engine is faster.\n\n" +
            table(["variant", "engine µs", "ORT µs", "engine / ORT", "ORT dynamic int8 µs",
                   "PyTorch µs"], latency_rows) +
            f"\n\n{args.threads} threads for every library; peers: {', '.join(peers) or 'none'}.")
    emit("inference", text, args.readme)


if __name__ == "__main__":
    main()
