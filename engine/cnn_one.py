"""One image through a CNN: the app's case, on buffers and views made once.

For one image a CNN's arithmetic is small (0.1-7 MFLOP here) and the time goes to the
calls around the products: padding a map, making a strided view, allocating its copy,
the product's output, the pooled map, the bias, the ReLU. A plan fixes all of it per
layer: a padded map whose border stays zero (the layer before writes its ReLU straight
into the interior), the view of its patches and the patch matrix they are copied into,
the product's output, the pooled map, the weights with any quantisation scale folded in
and the bias repeated over the pooled places. A call is then per layer one copy, one
product, one maximum over the pooling window, one addition and one ReLU.

Three things measured on NumPy 2.4 here shaped it. `np.maximum(a, 0)` runs 3-4x slower
than `np.maximum(a, zeros)` (the scalar misses the vector loop), so ReLU takes an array
of zeros made once. A patch copy costs per run, not per value: each run of k*C values is
copied as one opaque item (a void dtype of that size; 17-37% faster than value by value).
And a one-channel map's runs are k values, more runs than the product has work: the
first layer copies its patches transposed instead, each run a row of output places (a
slice of the image at a stride), and the product reads that matrix transposed.

Buffers are per thread (a model may be read by several at once). The products have the
batch path's shapes: a column of ones carrying the bias into the product saved a call,
but OpenBLAS then summed some of them (K = 801) differently on two threads than on one,
and an answer must not depend on the thread count. The numbers are the batch path's up
to rounding (the scale is folded into the weights here).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.conv import runs, window_rows
from engine.model import scaled_weights


def _window_columns(a: np.ndarray, k: int, q: int) -> np.ndarray:
    """The same patches of a one-channel (H, W, 1) map, transposed: (k, k, q, q, OH, OW),
    so the copy's runs are rows of output places, not k pixels."""
    h, w, _ = a.shape
    oh, ow = (h - k + 1) // q, (w - k + 1) // q
    r, col, _ = a.strides
    return np.ndarray((k, k, q, q, oh, ow), a.dtype, a, 0,
                      (r, col, r, col, q * r, q * col))


@dataclass(frozen=True)
class _Layer:
    k: int
    q: int
    pad: int
    in_shape: tuple[int, int, int]  # the unpadded (h, w, c) map this layer reads
    out_shape: tuple[int, int, int]  # the pooled map it writes
    W: np.ndarray  # (k*k*c_in, c_out), scale folded in
    b: np.ndarray


class OnePlan:
    """A frozen CNN's one-image layouts; `logits(image)` runs them."""

    def __init__(self, input_hw: tuple[int, int], convs, pools: list[int], dense) -> None:
        h, w = input_hw
        c = 1
        self.layers: list[_Layer] = []
        for conv, q in zip(convs, pools):
            k, _, _, c_out = conv.W.shape
            hp, wp = h + 2 * conv.pad, w + 2 * conv.pad
            oh, ow = (hp - k + 1) // q, (wp - k + 1) // q
            self.layers.append(_Layer(k, q, conv.pad, (h, w, c), (oh, ow, c_out),
                                      scaled_weights(conv).reshape(-1, c_out), conv.b))
            h, w, c = oh, ow, c_out
        # Dense layers as (out, in) matrices: the matrix-vector product reads rows.
        self.dense = [(np.ascontiguousarray(scaled_weights(d).T), d.b) for d in dense]
        self._local = threading.local()

    def logits(self, image: np.ndarray) -> np.ndarray:
        """One (h, w) image's logits (a new array; the buffers are reused)."""
        steps, first, features = self._buffers(image.dtype)
        np.copyto(first, image.reshape(first.shape))
        for gather, product, pool, bias, relu in steps:
            np.copyto(*gather)
            np.matmul(*product[:2], out=product[2])
            if pool is not None:
                np.maximum.reduce(pool[0], axis=0, out=pool[1])
            np.add(*bias, out=bias[0])
            np.maximum(*relu[:2], out=relu[2])
        a = features
        for Wt, b in self.dense[:-1]:
            a = np.dot(Wt, a)
            a += b
            np.maximum(a, 0, out=a)
        Wt, b = self.dense[-1]
        out = np.dot(Wt, a)
        out += b
        return out

    def _buffers(self, dtype: np.dtype) -> tuple:
        """This thread's buffers and the views into them, made on its first call."""
        made = getattr(self._local, "made", None)
        if made is None or made[0] != dtype:
            made = (dtype, self._make(dtype))
            self._local.made = made
        return made[1]

    def _make(self, dtype: np.dtype) -> tuple:
        padded = []  # each layer's input map, its border zero for good
        for layer in self.layers:
            h, w, c = layer.in_shape
            p = layer.pad
            padded.append(np.zeros((h + 2 * p, w + 2 * p, c), dtype))
        interiors = [m[layer.pad:m.shape[0] - layer.pad, layer.pad:m.shape[1] - layer.pad]
                     for m, layer in zip(padded, self.layers)]
        oh, ow, c = self.layers[-1].out_shape
        features = np.empty(oh * ow * c, dtype)
        targets = [*interiors[1:], features.reshape(oh, ow, c)]
        steps = []
        for layer, src, target in zip(self.layers, padded, targets):
            oh, ow, c_out = layer.out_shape
            places, rows = layer.q * layer.q, layer.q * layer.q * oh * ow
            W = layer.W.astype(dtype, copy=False)
            if layer.in_shape[-1] == 1:  # the patch matrix transposed
                view = _window_columns(src, layer.k, layer.q)
                patches = np.empty(view.shape, dtype)
                gather = (patches, view)
                lhs = patches.reshape(len(W), rows).T
            else:
                view = window_rows(src[None], layer.k, layer.q)[0]
                patches = np.empty(view.shape, dtype)
                gather = (runs(patches), runs(view))
                lhs = patches.reshape(rows, len(W))
            z = np.empty((rows, c_out), dtype)
            if places > 1:
                pooled = np.empty((oh * ow, c_out), dtype)
                pool = (z.reshape(places, oh * ow, c_out), pooled)
            else:
                pooled, pool = z, None
            bias = (pooled, np.tile(layer.b.astype(dtype, copy=False), (oh * ow, 1)))
            relu = (pooled.reshape(oh, ow, c_out), np.zeros((oh, ow, c_out), dtype), target)
            steps.append((gather, (lhs, W, z), pool, bias, relu))
        return steps, interiors[0], features

