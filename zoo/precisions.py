"""The built-in precisions. Adding one is one `@register_precision` class here or in a plugin.

A precision sees a model only as named tensors: every `<layer>.weight` (output channels
on its last axis, a dense matrix or a convolution kernel alike) and `<layer>.bias`. So
every family is stored in every precision without either knowing the other. Quantised
weights are read as a (inputs, outputs) matrix: for a kernel, inputs are kh*kw*in.
"""

from __future__ import annotations

import math

import numpy as np

from engine.model import Model
from engine.qat import QAT
from engine.quant import dequantize, pack_bits, quantize, unpack_bits
from zoo.registry import Precision, register_precision

Shapes = dict[str, tuple[int, ...]]


def _tensor(tensors: dict[str, np.ndarray], key: str, shape: tuple[int, ...],
            dtype: str) -> np.ndarray:
    if key not in tensors:
        raise ValueError(f"tensor {key!r} is missing")
    t = tensors[key]
    if t.shape != tuple(shape) or t.dtype != np.dtype(dtype):
        raise ValueError(f"tensor {key!r} is {t.dtype}{list(t.shape)}, "
                         f"expected {dtype}{list(shape)}")
    return t


def _float_state(model: Model) -> dict[str, np.ndarray]:
    if model.quantised:
        raise TypeError("encode the float model: this one is already quantised")
    return model.state_dict()


def _layers(shapes: Shapes):
    """(layer name, weight shape, bias shape) for every layer with a weight."""
    for key, shape in shapes.items():
        if key.endswith(".weight"):
            prefix = key[:-len(".weight")]
            yield prefix, shape, shapes[f"{prefix}.bias"]


class FloatPrecision(Precision):
    dtype: str

    def encode(self, model: Model) -> tuple[dict[str, np.ndarray], dict]:
        return {k: v.astype(self.dtype) for k, v in _float_state(model).items()}, {}

    def decode(self, tensors: dict[str, np.ndarray], config: dict, shapes: Shapes
               ) -> dict[str, np.ndarray]:
        return {k: _tensor(tensors, k, shape, self.dtype) for k, shape in shapes.items()}


@register_precision
class Float64(FloatPrecision):
    name, bits, dtype = "float64", 64, "float64"
    description = "Double precision: the reference the original engine shipped."


@register_precision
class Float32(FloatPrecision):
    name, bits, dtype = "float32", 32, "float32"
    description = "Single precision: what training computes in."


def _matrix(W: np.ndarray) -> np.ndarray:
    return W.reshape(-1, W.shape[-1])


def _encode_int8(tensors: dict[str, np.ndarray], prefix: str, W: np.ndarray) -> None:
    q, scales = quantize(_matrix(W), 8)
    tensors[f"{prefix}.weight_q"] = q.reshape(W.shape)
    tensors[f"{prefix}.weight_scale"] = scales[0]


def _decode_int8(tensors: dict[str, np.ndarray], prefix: str, shape: tuple[int, ...]) -> dict:
    q = _tensor(tensors, f"{prefix}.weight_q", shape, "int8")
    # Cast once at load; each call then runs (x @ q) * scale in float32.
    return {f"{prefix}.weight": q.astype(np.float32),
            f"{prefix}.weight_scale": _tensor(tensors, f"{prefix}.weight_scale",
                                              (shape[-1],), "float32")}


def _encode_packed(tensors: dict[str, np.ndarray], prefix: str, W: np.ndarray, bits: int,
                   group_size: int | None, scale: str) -> None:
    q, scales = quantize(_matrix(W), bits, group_size, scale)
    tensors[f"{prefix}.weight_q{bits}"] = pack_bits(q, bits)
    tensors[f"{prefix}.weight_scale"] = scales


def _decode_packed(tensors: dict[str, np.ndarray], prefix: str, shape: tuple[int, ...],
                   bits: int, group_size: int | None) -> dict:
    n_in, n_out = math.prod(shape[:-1]), shape[-1]
    per = 8 // bits
    packed = _tensor(tensors, f"{prefix}.weight_q{bits}", (-(-n_in * n_out // per),), "uint8")
    groups = 1 if group_size is None else -(-n_in // group_size)
    scales = _tensor(tensors, f"{prefix}.weight_scale", (groups, n_out), "float32")
    q = unpack_bits(packed, n_in * n_out, bits).reshape(n_in, n_out)
    # Group scales vary along the input, so they cannot be folded into the output:
    # dequantise once here, never per call.
    return {f"{prefix}.weight": dequantize(q, scales, group_size).reshape(shape)}


@register_precision
class Int8(Precision):
    name, bits = "int8", 8
    description = "int8 weights, one float32 scale per output channel, folded into the output."

    def encode(self, model: Model) -> tuple[dict[str, np.ndarray], dict]:
        tensors: dict[str, np.ndarray] = {}
        for key, value in _float_state(model).items():
            if key.endswith(".weight"):
                _encode_int8(tensors, key[:-len(".weight")], value)
            else:
                tensors[key] = value.astype(np.float32)
        return tensors, {}

    def decode(self, tensors: dict[str, np.ndarray], config: dict, shapes: Shapes
               ) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for prefix, w_shape, b_shape in _layers(shapes):
            out.update(_decode_int8(tensors, prefix, w_shape))
            out[f"{prefix}.bias"] = _tensor(tensors, f"{prefix}.bias", b_shape, "float32")
        return out


class Packed(Precision):
    """Sub-byte weights packed 8/bits to a byte, a float32 scale per output channel or per
    group of inputs; the classifier in int8 unless output_bits says otherwise. Trained
    with quantisation in the loop (`qat`), fine-tuned from the float parent."""

    experimental = True
    group_size: int | None = None
    scale = "absmax"
    output_bits = 8

    @property
    def qat(self) -> QAT:
        return QAT(self.bits, self.group_size, self.scale,
                   8 if self.output_bits == 8 else None)

    def encode(self, model: Model) -> tuple[dict[str, np.ndarray], dict]:
        tensors: dict[str, np.ndarray] = {}
        for key, value in _float_state(model).items():
            prefix = key[:-len(".weight")]
            if not key.endswith(".weight"):
                tensors[key] = value.astype(np.float32)
            elif prefix == model.classifier and self.output_bits == 8:
                _encode_int8(tensors, prefix, value)
            else:
                _encode_packed(tensors, prefix, value, self.bits, self.group_size, self.scale)
        return tensors, {"group_size": self.group_size, "scale": self.scale,
                         "output_bits": self.output_bits}

    def decode(self, tensors: dict[str, np.ndarray], config: dict, shapes: Shapes
               ) -> dict[str, np.ndarray]:
        g = config.get("group_size", self.group_size)
        if g is not None and (not isinstance(g, int) or isinstance(g, bool) or g < 1):
            raise ValueError(f"group_size must be a positive integer or null, not {g!r}")
        # Which layers are int8 is read from the tensors, but a config that claims another
        # layout than this precision writes was not written by it.
        ob = config.get("output_bits", self.output_bits)
        if type(ob) is not int or ob != self.output_bits:
            raise ValueError(f"precision_config output_bits must be {self.output_bits} (what "
                             f"{self.name} writes), not {ob!r}")
        out: dict[str, np.ndarray] = {}
        for prefix, w_shape, b_shape in _layers(shapes):
            # Which layers stayed int8 is in the file itself (the classifier, normally).
            if f"{prefix}.weight_q" in tensors:
                out.update(_decode_int8(tensors, prefix, w_shape))
            else:
                out.update(_decode_packed(tensors, prefix, w_shape, self.bits, g))
            out[f"{prefix}.bias"] = _tensor(tensors, f"{prefix}.bias", b_shape, "float32")
        return out


@register_precision
class Int4(Packed):
    """Every weight in int4 but the classifier's, kept in int8.

    Measured (bench/int4_layout.py): the wide first layer loses nothing at int4 with groups
    of 32, while an int4 output layer cost mlp-h32 1.8 points. That layer is under 1.3% of
    an MLP's weights, so keeping it at int8 costs a few hundred bytes.
    """

    name, bits = "int4", 4
    group_size = 32
    # Measured (bench/qat.py): within 0.1 points of rounding after training on most
    # architectures, +0.17 on the smallest CNN, cnn-c8c16, where int4 hurt most.
    finetune_epochs, finetune_lr = 3, 1e-4
    description = ("Experimental: int4 weights packed two per byte, one float32 scale per "
                   "group of 32 inputs; the classifier layer in int8; fine-tuned with "
                   "quantisation-aware training.")


@register_precision
class Int2(Packed):
    """Ternary weights (-1, 0, +1) in 2 bits, four to a byte, one absmean scale per output
    channel (BitNet b1.58's rule); the classifier in int8. A group scale would cost as many
    bytes as its 32 ternary weights, so per channel it is."""

    name, bits = "int2", 2
    scale = "absmean"
    # Post-training ternary loses 10-35 points; ten epochs in the loop win it back.
    finetune_epochs, finetune_lr = 10, 1e-3
    description = ("Experimental: ternary weights (-1, 0, +1) packed four per byte, one "
                   "float32 scale per output channel; the classifier layer in int8; trained "
                   "with quantisation in the loop.")
