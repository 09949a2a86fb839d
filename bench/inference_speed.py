"""Inference speed of every shipped variant: the engine vs ONNX Runtime and PyTorch.

Batch throughput: the 10,000 MNIST test images in one call (images per second).
Latency: one image per call, median over 1,000 calls (microseconds).
Peers run the *same* weights: an ONNX graph built with onnx.helper from each variant's
decoded tensors (quantised weights times their scales), and PyTorch on those tensors. For
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
from threadpoolctl import threadpool_limits

import zoo
from engine.mlp import MLP
from engine.training import to_input
from zoo.manifest import read_manifest
from zoo.report import ordered

LOADS = 3  # where the weights land in memory moves single-image latency by up to 30%


def effective_weights(model: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    return [((layer.W * layer.scale).astype(layer.W.dtype) if layer.scale is not None
             else layer.W, layer.b) for layer in model.layers]


def onnx_bytes(model: MLP) -> bytes:
    """The MLP as an ONNX graph: MatMul, Add, Relu ..., Softmax, with the model's weights."""
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.DOUBLE if model.dtype == np.float64 else TensorProto.FLOAT
    nodes, inits, x = [], [], "x"
    weights = effective_weights(model)
    for i, (W, b) in enumerate(weights):
        inits += [numpy_helper.from_array(W, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"z{i}"])]
        x = f"z{i}"
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"h{i}"]))
            x = f"h{i}"
    nodes.append(helper.make_node("Softmax", [x], ["probs"], axis=-1))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", elem, [None, 784])],
                              [helper.make_tensor_value_info("probs", elem, [None, 10])], inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    return onnx_model.SerializeToString()


def ort_session(model_bytes: bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"x": x})[0]


def ort_dynamic_int8(float_bytes: bytes, threads: int):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        src.write_bytes(float_bytes)
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return ort_session(dst.read_bytes(), threads)


def torch_fn(model: MLP):
    import torch

    layers = [(torch.from_numpy(np.ascontiguousarray(W)), torch.from_numpy(b))
              for W, b in effective_weights(model)]

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            h = torch.from_numpy(x)
            for i, (W, b) in enumerate(layers):
                h = torch.addmm(b, h, W)
                if i < len(layers) - 1:
                    h = torch.relu(h)
            return torch.softmax(h, dim=-1).numpy()
    return run


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
    entries = [e for e in ordered(read_manifest(zoo.default_models_dir()))
               if fnmatch.fnmatchcase(e["name"], args.variants)]
    batch_rows, latency_rows = [], []
    own = {}
    with threadpool_limits(limits=args.threads):
        for e in entries:
            # Factories, not functions: latency is measured over fresh loads (see LOADS).
            makers = {"engine": lambda n=e["name"]: zoo.load(n).predict_proba}
            if onnxruntime is not None:
                makers["ORT"] = lambda n=e["name"]: ort_session(onnx_bytes(zoo.load(n)),
                                                                args.threads)
                if e["precision"] == "int8":
                    makers["ORT int8"] = lambda p=e["parent"]: ort_dynamic_int8(
                        onnx_bytes(zoo.load(p)), args.threads)
            if torch is not None:
                makers["PyTorch"] = lambda n=e["name"]: torch_fn(zoo.load(n))
            x = to_input(data.test_images, zoo.load(e["name"]).dtype)
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
