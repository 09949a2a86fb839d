"""The built-in precisions. Adding one is one `@register_precision` class here or in a plugin.

Tensors are named `layers.<i>.<what>`; every precision decodes into the engine's MLP, so
the rest of the zoo never needs to know how weights are stored.
"""

from __future__ import annotations

import itertools

import numpy as np

from engine.mlp import MLP, Dense
from engine.quant import dequantize, pack_int4, quantize, unpack_int4
from zoo.registry import Precision, register_precision


def _layer_shapes(sizes: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(sizes))


def _tensor(tensors: dict[str, np.ndarray], key: str, shape: tuple[int, ...],
            dtype: str) -> np.ndarray:
    if key not in tensors:
        raise ValueError(f"tensor {key!r} is missing")
    t = tensors[key]
    if t.shape != tuple(shape) or t.dtype != np.dtype(dtype):
        raise ValueError(f"tensor {key!r} is {t.dtype}{list(t.shape)}, "
                         f"expected {dtype}{list(shape)}")
    return t


class FloatPrecision(Precision):
    dtype: str

    def encode(self, model: MLP) -> tuple[dict[str, np.ndarray], dict]:
        tensors = {}
        for i, layer in enumerate(model.layers):
            tensors[f"layers.{i}.weight"] = layer.W.astype(self.dtype)
            tensors[f"layers.{i}.bias"] = layer.b.astype(self.dtype)
        return tensors, {}

    def decode(self, tensors: dict[str, np.ndarray], config: dict, sizes: list[int]) -> MLP:
        return MLP([Dense(_tensor(tensors, f"layers.{i}.weight", (n_in, n_out), self.dtype),
                          _tensor(tensors, f"layers.{i}.bias", (n_out,), self.dtype))
                    for i, (n_in, n_out) in enumerate(_layer_shapes(sizes))])


@register_precision
class Float64(FloatPrecision):
    name, bits, dtype = "float64", 64, "float64"
    description = "Double precision: the reference the original engine shipped."


@register_precision
class Float32(FloatPrecision):
    name, bits, dtype = "float32", 32, "float32"
    description = "Single precision: what training computes in."


def _encode_int8(tensors: dict[str, np.ndarray], i: int, layer: Dense) -> None:
    q, scales = quantize(layer.W, 8)
    tensors[f"layers.{i}.weight_q"] = q
    tensors[f"layers.{i}.weight_scale"] = scales[0]
    tensors[f"layers.{i}.bias"] = layer.b.astype(np.float32)


def _decode_int8(tensors: dict[str, np.ndarray], i: int, n_in: int, n_out: int) -> Dense:
    q = _tensor(tensors, f"layers.{i}.weight_q", (n_in, n_out), "int8")
    # Cast once at load; each call then runs (x @ q) * scale in float32.
    return Dense(q.astype(np.float32), _tensor(tensors, f"layers.{i}.bias", (n_out,), "float32"),
                 _tensor(tensors, f"layers.{i}.weight_scale", (n_out,), "float32"))


def _encode_int4(tensors: dict[str, np.ndarray], i: int, layer: Dense,
                 group_size: int | None) -> None:
    q, scales = quantize(layer.W, 4, group_size)
    tensors[f"layers.{i}.weight_q4"] = pack_int4(q)
    tensors[f"layers.{i}.weight_scale"] = scales
    tensors[f"layers.{i}.bias"] = layer.b.astype(np.float32)


def _decode_int4(tensors: dict[str, np.ndarray], i: int, n_in: int, n_out: int,
                 group_size: int | None) -> Dense:
    packed = _tensor(tensors, f"layers.{i}.weight_q4", ((n_in * n_out + 1) // 2,), "uint8")
    groups = 1 if group_size is None else -(-n_in // group_size)
    scales = _tensor(tensors, f"layers.{i}.weight_scale", (groups, n_out), "float32")
    q = unpack_int4(packed, n_in * n_out).reshape(n_in, n_out)
    # Group scales vary along the input, so they cannot be folded into the output:
    # dequantise once here, never per call.
    return Dense(dequantize(q, scales, group_size),
                 _tensor(tensors, f"layers.{i}.bias", (n_out,), "float32"))


@register_precision
class Int8(Precision):
    name, bits = "int8", 8
    description = "int8 weights, one float32 scale per output channel, folded into the output."

    def encode(self, model: MLP) -> tuple[dict[str, np.ndarray], dict]:
        tensors: dict[str, np.ndarray] = {}
        for i, layer in enumerate(model.layers):
            _encode_int8(tensors, i, layer)
        return tensors, {}

    def decode(self, tensors: dict[str, np.ndarray], config: dict, sizes: list[int]) -> MLP:
        return MLP([_decode_int8(tensors, i, n_in, n_out)
                    for i, (n_in, n_out) in enumerate(_layer_shapes(sizes))])


@register_precision
class Int4(Precision):
    """Hidden layers in int4; the 10-way output layer in int8 unless output_bits is 4.

    Measured (bench/int4_layout.py): the wide first layer loses nothing at int4 with groups
    of 32, while an int4 output layer cost mlp-h32 1.8 points. That layer is under 1.3% of
    the weights, so keeping it at int8 costs a few hundred bytes.
    """

    name, bits, experimental = "int4", 4, True
    group_size: int | None = 32
    output_bits = 8
    description = ("Experimental: int4 weights packed two per byte, one float32 scale per "
                   "group of 32 inputs; the output layer in int8.")

    def encode(self, model: MLP) -> tuple[dict[str, np.ndarray], dict]:
        tensors: dict[str, np.ndarray] = {}
        last = len(model.layers) - 1
        for i, layer in enumerate(model.layers):
            if i == last and self.output_bits == 8:
                _encode_int8(tensors, i, layer)
            else:
                _encode_int4(tensors, i, layer, self.group_size)
        return tensors, {"group_size": self.group_size, "output_bits": self.output_bits}

    def decode(self, tensors: dict[str, np.ndarray], config: dict, sizes: list[int]) -> MLP:
        g = config.get("group_size", self.group_size)
        g = None if g is None else int(g)  # None: one scale per output channel
        output_bits = config.get("output_bits", 4)
        shapes = _layer_shapes(sizes)
        return MLP([_decode_int8(tensors, i, n_in, n_out)
                    if i == len(shapes) - 1 and output_bits == 8
                    else _decode_int4(tensors, i, n_in, n_out, g)
                    for i, (n_in, n_out) in enumerate(shapes)])
