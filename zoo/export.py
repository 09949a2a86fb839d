"""Export a zoo variant to ONNX, to run it where this repo and NumPy are not.

    python -m zoo.export mlp-h128-int8 --onnx mlp-h128-int8.onnx
    python -m zoo.export --all onnx/        # every variant, and the not-a-digit detector
    python -m zoo.export --list

The variant is loaded the normal way (hash-checked against the manifest) and written as a
graph of the engine's own forward pass, layer for layer, so it answers what
`model.predict_proba` answers. It takes "images": (N, 28, 28) float32 in [0, 1], white ink
on black; it returns "probabilities" (N, classes) float32, the softmax, and "logits" (N,
classes) float32, for whoever wants the manifest's temperature (stored in the file's
metadata with the variant's name, precision and accuracy).

Precisions, and how each is written:
- float32: the weights as shipped.
- float64: computed in double inside; the input is cast up and the outputs cast down, so
  every variant has the same float32 interface. ONNX Runtime has no double convolution, so
  a float64 CNN's convolutions are written the way engine/conv.py computes them: the
  patches under the kernel (Slice, Concat) times the kernel as a matrix (MatMul), pooling
  as a reshape and a max. Float CNNs get the standard Conv and MaxPool.
- int8 (and the int8 classifier of int4/int2 variants): the integer codes are stored as
  int8 and cast to float in the graph, and the per-output scale multiplies the layer's
  output, as the engine runs them: no ONNX quantisation operators, but a file about a
  quarter of float32's.
- int4, int2: stored dequantised, the codes times their group scales as float32
  initialisers (the engine too dequantises them once, at load), so their files are as
  large as float32's, not eight or sixteen times smaller like their safetensors.

`onnx` is needed only here and is not a runtime dependency: `pip install onnx`.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_write
from engine.cnn import CNN, CONV_DEFAULTS
from engine.mlp import MLP
from engine.model import Model
from zoo import LocalZoo, default_models_dir
from zoo.artifacts import ArtifactError
from zoo.manifest import DETECTOR, ManifestError

OPSET = 17  # what ONNX Runtime has long run; IR version 8 is its pair
IR_VERSION = 8
INPUT, PROBS, LOGITS = "images", "probabilities", "logits"
METADATA = ("precision", "family", "shape", "test_accuracy", "temperature", "threshold")


class ExportError(RuntimeError):
    """The variant cannot be exported: no such variant, no onnx, a family it cannot write."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install onnx "
                          "(pinned in requirements-dev.txt)") from None
    return onnx


class _Graph:
    """Nodes and initialisers, each output named after its op and a counter."""

    def __init__(self, onnx: Any, dtype: np.dtype):
        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.dtype, self.elem = dtype, onnx.helper.np_dtype_to_tensor_dtype(dtype)
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def ints(self, name: str, values: list[int]) -> str:
        return self.const(name, np.asarray(values, np.int64))

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or f"{op_type}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=out,
                                                **attrs))
        return out


def _is_codes(W: np.ndarray) -> bool:
    """Whether a scaled layer's weights are int8 codes: the int8 precision decodes them to
    float32 and keeps their scale apart, to multiply the layer's output."""
    return bool(np.all(np.abs(W) <= 127) and np.array_equal(W, np.rint(W)))


def _weight(g: _Graph, prefix: str, layer: Any,
            layout: Callable[[np.ndarray], np.ndarray]) -> str:
    """The layer's weights in `layout`; int8 codes stay int8 in the file, cast in the graph."""
    if layer.scale is not None and _is_codes(layer.W):
        return g.op("Cast", g.const(f"{prefix}.weight_q", layout(layer.W).astype(np.int8)),
                    to=g.elem)
    return g.const(f"{prefix}.weight", layout(layer.W).astype(g.dtype))


def _scale_bias(g: _Graph, z: str, prefix: str, layer: Any, shape: tuple[int, ...]) -> str:
    """z * scale + b, as engine.model.fold_scale does; `shape` broadcasts them over z."""
    if layer.scale is not None:
        z = g.op("Mul", z, g.const(f"{prefix}.weight_scale",
                                   layer.scale.astype(g.dtype).reshape(shape)))
    return g.op("Add", z, g.const(f"{prefix}.bias", layer.b.astype(g.dtype).reshape(shape)))


def _dense(g: _Graph, x: str, prefix: str, layer: Any, relu: bool) -> str:
    z = g.op("MatMul", x, _weight(g, prefix, layer, lambda W: W))
    z = _scale_bias(g, z, prefix, layer, (-1,))
    return g.op("Relu", z) if relu else z


def _conv_nchw(g: _Graph, x: str, prefix: str, conv: Any, pool: int) -> str:
    """Conv -> MaxPool -> ReLU on NCHW maps, kernels (kh, kw, in, out) as (out, in, kh, kw)."""
    K = _weight(g, prefix, conv, lambda W: W.transpose(3, 2, 0, 1))
    z = _scale_bias(g, g.op("Conv", x, K, pads=[conv.pad] * 4), prefix, conv, (-1, 1, 1))
    if pool > 1:  # floor mode: a ragged last row or column is dropped, as engine/conv.py does
        z = g.op("MaxPool", z, kernel_shape=[pool, pool], strides=[pool, pool])
    return g.op("Relu", z)


def _conv_nhwc(g: _Graph, x: str, prefix: str, conv: Any, pool: int,
               hw: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """Conv -> MaxPool -> ReLU on NHWC maps from ops that run in any float type: the
    engine's im2col (patches in (kh, kw, in) order) times the kernel as a matrix, and
    pooling as a reshape into windows and a max over them. Returns the map and its size."""
    kh, kw, _, c_out = conv.W.shape
    p = conv.pad
    if p:
        x = g.op("Pad", x, g.ints(f"{prefix}.pads", [0, p, p, 0, 0, p, p, 0]))
    oh, ow = hw[0] + 2 * p - kh + 1, hw[1] + 2 * p - kw + 1
    axes = g.ints(f"{prefix}.patch_axes", [1, 2])
    patches = [g.op("Slice", x, g.ints(f"{prefix}.patch{i}_{j}.starts", [i, j]),
                    g.ints(f"{prefix}.patch{i}_{j}.ends", [i + oh, j + ow]), axes)
               for i in range(kh) for j in range(kw)]
    cols = g.op("Concat", *patches, axis=3)
    z = g.op("MatMul", cols, _weight(g, prefix, conv, lambda W: W.reshape(-1, c_out)))
    z = _scale_bias(g, z, prefix, conv, (-1,))
    if pool > 1:
        h2, w2 = oh // pool, ow // pool
        if (h2 * pool, w2 * pool) != (oh, ow):
            z = g.op("Slice", z, g.ints(f"{prefix}.pool.starts", [0, 0]),
                     g.ints(f"{prefix}.pool.ends", [h2 * pool, w2 * pool]), axes)
        z = g.op("Reshape", z, g.ints(f"{prefix}.pool.windows",
                                      [-1, h2, pool, w2, pool, c_out]))
        z = g.op("ReduceMax", z, axes=[2, 4], keepdims=0)
        oh, ow = h2, w2
    return g.op("Relu", z), (oh, ow)


def _body(g: _Graph, model: Model, x: str) -> str:
    """The logits of `model` for images `x` (N, H, W), in g's dtype."""
    if isinstance(model, MLP):
        a, dense = g.op("Flatten", x, axis=1), model.layers
    else:
        config = model.config()
        pools = [int({**CONV_DEFAULTS, **c}["pool"]) for c in config["conv"]]
        hw = tuple(int(s) for s in config.get("input", (28, 28)))
        if g.dtype == np.float32:
            a = g.op("Unsqueeze", x, g.ints("channel_axis", [1]))
            for i, (conv, pool) in enumerate(zip(model.convs, pools)):
                a = _conv_nchw(g, a, f"conv.{i}", conv, pool)
            # The dense layers read the map flattened in (h, w, c) order, the engine's.
            a = g.op("Transpose", a, perm=[0, 2, 3, 1])
        else:
            a = g.op("Unsqueeze", x, g.ints("channel_axis", [3]))
            for i, (conv, pool) in enumerate(zip(model.convs, pools)):
                a, hw = _conv_nhwc(g, a, f"conv.{i}", conv, pool, hw)
        a, dense = g.op("Flatten", a, axis=1), model.dense
    prefix = "layers" if isinstance(model, MLP) else "dense"
    for i, layer in enumerate(dense):
        a = _dense(g, a, f"{prefix}.{i}", layer, relu=i < len(dense) - 1)
    return a


def to_onnx(model: Model, entry: dict | None = None) -> Any:
    """`model` as an onnx.ModelProto computing its probabilities and logits; `entry` (its
    manifest entry) supplies the metadata."""
    onnx = _onnx()
    helper = onnx.helper
    dtype = np.dtype(model.dtype)
    if dtype not in (np.float32, np.float64):
        raise ExportError(f"cannot export a model that computes in {dtype}")
    if isinstance(model, CNN):
        h, w = (int(s) for s in model.config().get("input", (28, 28)))
    elif isinstance(model, MLP) and model.sizes[0] == 28 * 28:
        h, w = 28, 28
    else:
        raise ExportError(f"cannot export {model!r}: the exporter writes MLPs of 28x28 "
                          "images and CNNs")
    g = _Graph(onnx, dtype)
    x = INPUT if dtype == np.float32 else g.op("Cast", INPUT, to=g.elem)
    z = _body(g, model, x)
    probs = g.op("Softmax", z, axis=-1)
    if dtype == np.float32:
        g.op("Identity", z, out=LOGITS)
        g.op("Identity", probs, out=PROBS)
    else:
        f32 = onnx.TensorProto.FLOAT
        g.op("Cast", z, out=LOGITS, to=f32)
        g.op("Cast", probs, out=PROBS, to=f32)
    classes = model.shapes(model.config())[f"{model.classifier}.bias"][0]
    name = model.name or model.family

    def info(n: str, shape: list) -> Any:
        return helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, shape)

    graph = helper.make_graph(g.nodes, name, [info(INPUT, ["N", h, w])],
                              [info(PROBS, ["N", classes]), info(LOGITS, ["N", classes])],
                              g.inits)
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="digit-zoo",
        doc_string=f"digit-zoo {name}: {INPUT} (N, {h}, {w}) float32 in [0, 1], white on "
                   f"black -> {PROBS} (softmax) and {LOGITS}, (N, {classes}) float32")
    proto.ir_version = IR_VERSION
    props = {"variant": name, **{k: str(entry[k]) for k in METADATA
                                 if entry and entry.get(k) is not None}}
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _load(z: LocalZoo, name: str) -> tuple[Model, dict]:
    """The variant or the detector called `name`, and its manifest entry."""
    detector = z.manifest.get(DETECTOR)
    if detector is not None and name == detector["name"]:
        return z.load_detector(), detector
    if name not in z.manifest["variants"] and name not in z.problems:
        close = difflib.get_close_matches(name, _names(z), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ExportError(f"no variant {name!r} in {z.label}; {hint}"
                          "`python -m zoo.export --list` names them")
    return z.load(name), z.manifest["variants"][name]


def _names(z: LocalZoo) -> list[str]:
    detector = z.manifest.get(DETECTOR)
    return z.names + ([detector["name"]] if detector else [])


def export(name: str, path: str | Path, models_dir: str | Path | None = None) -> Path:
    """Write variant `name` (or the manifest's detector) from `models_dir` (default: the
    shipped models/) to `path` as ONNX; the file is replaced whole or not at all."""
    z = LocalZoo(models_dir if models_dir is not None else default_models_dir())
    return _write(z, name, Path(path))


def _check_path(path: Path) -> None:
    """Say what is wrong with `path` before any work (a missing folder is made)."""
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder (give a file name)")
    folder = next((p for p in path.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise ExportError(f"cannot write {path}: {folder} is a file, not a folder")


def _write(z: LocalZoo, name: str, path: Path) -> Path:
    _check_path(path)
    _onnx()  # before loading: a missing package is the first thing to say
    model, entry = _load(z, name)
    data = to_onnx(model, entry).SerializeToString()
    try:
        atomic_write(path, data)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zoo.export", description="Export zoo variants to ONNX: (N, 28, 28) "
        "float32 images in [0, 1] -> probabilities and logits, float32.")
    parser.add_argument("name", nargs="?", help="the variant (or the detector) to export")
    parser.add_argument("--onnx", type=Path, metavar="FILE",
                        help="where to write it (default: NAME.onnx)")
    parser.add_argument("--all", type=Path, metavar="DIR",
                        help="export every variant and the detector to DIR/<name>.onnx")
    parser.add_argument("--list", action="store_true", help="name what can be exported")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="the zoo's folder (default: the shipped models/)")
    args = parser.parse_args(argv)
    if sum(map(bool, (args.name, args.all, args.list))) != 1:
        parser.error("give one of: a variant name, --all DIR, --list")
    if args.onnx is not None and not args.name:
        parser.error("--onnx goes with a variant name")
    try:
        z = LocalZoo(args.models_dir if args.models_dir is not None else default_models_dir())
        if args.list:
            print("\n".join(_names(z)))
            return 0
        names = [args.name] if args.name else _names(z)
        for name in names:
            if args.all:
                path = args.all / f"{name}.onnx"
            else:
                path = args.onnx or Path(f"{name}.onnx")
            _write(z, name, path)
            print(f"{name}: wrote {path} ({path.stat().st_size:,} bytes)")
    except (ExportError, ManifestError, ArtifactError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
