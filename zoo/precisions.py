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
from engine.quant import dequantize, pack_int4, quantize, unpack_int4
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


def _encode_int4(tensors: dict[str, np.ndarray], prefix: str, W: np.ndarray,
                 group_size: int | None) -> None:
    q, scales = quantize(_matrix(W), 4, group_size)
    tensors[f"{prefix}.weight_q4"] = pack_int4(q)
    tensors[f"{prefix}.weight_scale"] = scales


def _decode_int4(tensors: dict[str, np.ndarray], prefix: str, shape: tuple[int, ...],
                 group_size: int | None) -> dict:
    n_in, n_out = math.prod(shape[:-1]), shape[-1]
    packed = _tensor(tensors, f"{prefix}.weight_q4", ((n_in * n_out + 1) // 2,), "uint8")
    groups = 1 if group_size is None else -(-n_in // group_size)
    scales = _tensor(tensors, f"{prefix}.weight_scale", (groups, n_out), "float32")
    q = unpack_int4(packed, n_in * n_out).reshape(n_in, n_out)
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


@register_precision
class Int4(Precision):
    """Every weight in int4 but the classifier's, kept in int8 unless output_bits is 4.

    Measured (bench/int4_layout.py): the wide first layer loses nothing at int4 with groups
    of 32, while an int4 output layer cost mlp-h32 1.8 points. That layer is under 1.3% of
    an MLP's weights, so keeping it at int8 costs a few hundred bytes.
    """

    name, bits, experimental = "int4", 4, True
    group_size: int | None = 32
    output_bits = 8
    description = ("Experimental: int4 weights packed two per byte, one float32 scale per "
                   "group of 32 inputs; the classifier layer in int8.")

    def encode(self, model: Model) -> tuple[dict[str, np.ndarray], dict]:
        tensors: dict[str, np.ndarray] = {}
        for key, value in _float_state(model).items():
            prefix = key[:-len(".weight")]
            if not key.endswith(".weight"):
                tensors[key] = value.astype(np.float32)
            elif prefix == model.classifier and self.output_bits == 8:
                _encode_int8(tensors, prefix, value)
            else:
                _encode_int4(tensors, prefix, value, self.group_size)
        return tensors, {"group_size": self.group_size, "output_bits": self.output_bits}

    def decode(self, tensors: dict[str, np.ndarray], config: dict, shapes: Shapes
               ) -> dict[str, np.ndarray]:
        g = config.get("group_size", self.group_size)
        if g is not None and (not isinstance(g, int) or isinstance(g, bool) or g < 1):
            raise ValueError(f"group_size must be a positive integer or null, not {g!r}")
        out: dict[str, np.ndarray] = {}
        for prefix, w_shape, b_shape in _layers(shapes):
            # Which layers stayed int8 is in the file itself (the classifier, normally).
            if f"{prefix}.weight_q" in tensors:
                out.update(_decode_int8(tensors, prefix, w_shape))
            else:
                out.update(_decode_int4(tensors, prefix, w_shape, g))
            out[f"{prefix}.bias"] = _tensor(tensors, f"{prefix}.bias", b_shape, "float32")
        return out
