"""Convolution and max-pooling in NumPy, forward and backward by hand.

Images are NHWC and kernels (kh, kw, in, out), so a convolution is one matrix product:
the patches under the kernel, gathered once per layer into rows of kh*kw*in values
(im2col), times the kernel as a (kh*kw*in, out) matrix. Output channels sit on the last
axis like a dense layer's, so quantisation treats both alike.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.model import fold_scale


def im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """(N, H, W, C) -> (N, H-kh+1, W-kw+1, kh, kw, C): every valid patch, copied once."""
    n, h, w, c = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    if c > 1:  # one copy of a strided window view (measured 4x faster than kh*kw copies)
        return np.ascontiguousarray(
            sliding_window_view(x, (kh, kw), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3))
    # One channel: kh*kw slice copies beat the view's copy (measured 1.5x)
    cols = np.empty((n, oh, ow, kh, kw, c), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = x[:, i:i + oh, j:j + ow, :]
    return cols


def conv_input_grad(dz: np.ndarray, W: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """dL/dx of a valid convolution, from dz (N*OH*OW, out): the adjoint of im2col.

    One small product per kernel offset, added where that offset read its input. Each
    product comes out contiguous, and in the (N, H, W*C) view its rows land on contiguous
    runs of OW*C values: twice as fast as scattering a full patch-gradient matrix.
    """
    n, h, w, c = shape
    kh, kw = W.shape[:2]
    oh, ow = h - kh + 1, w - kw + 1
    dx = np.zeros(shape, dz.dtype)
    rows = dx.reshape(n, h, w * c)
    for i in range(kh):
        for j in range(kw):
            rows[:, i:i + oh, j * c:(j + ow) * c] += (dz @ W[i, j].T).reshape(n, oh, ow * c)
    return dx


def zero_padded(x: np.ndarray, p: int) -> np.ndarray:
    """(N, H, W, C) with p zeros around each map: np.pad's result, for a tenth of its
    fixed cost (which is most of a one-image convolution's time)."""
    n, h, w, c = x.shape
    out = np.zeros((n, h + 2 * p, w + 2 * p, c), x.dtype)
    out[:, p:p + h, p:p + w, :] = x
    return out


class Conv2D:
    """A 'valid' convolution over an input zero-padded by `pad` on each side."""

    def __init__(self, W: np.ndarray, b: np.ndarray, scale: np.ndarray | None = None,
                 pad: int = 0):
        self.W, self.b, self.scale, self.pad = W, b, scale, pad

    def __call__(self, x: np.ndarray, keep: bool = False):
        """(N, H, W, C) -> (N, OH, OW, out); with `keep`, also the patches for backward."""
        if self.pad:
            x = zero_padded(x, self.pad)
        kh, kw, c_in, c_out = self.W.shape
        cols = im2col(x, kh, kw)
        n, oh, ow = cols.shape[:3]
        z = fold_scale(cols.reshape(-1, kh * kw * c_in) @ self.W.reshape(-1, c_out),
                       self.scale, self.b)
        return z.reshape(n, oh, ow, c_out), (cols, x.shape) if keep else None

    def backward(self, cache, dz: np.ndarray, params: bool, inputs: bool):
        """Gradients (dW, db) and dL/dx, from dL/dz of shape (N, OH, OW, out)."""
        cols, padded_shape = cache
        kh, kw, c_in, c_out = self.W.shape
        dz2 = dz.reshape(-1, c_out)
        grads = []
        if params:
            grads = [(cols.reshape(-1, kh * kw * c_in).T @ dz2).reshape(self.W.shape),
                     dz2.sum(axis=0)]
        dx = None
        if inputs:
            if self.scale is not None:
                dz2 = dz2 * self.scale
            dx = conv_input_grad(dz2, self.W, padded_shape)
            if self.pad:
                p = self.pad
                dx = dx[:, p:-p, p:-p, :]
        return grads, dx


def maxpool(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, tuple]:
    """k x k max-pooling with stride k; a ragged last row or column is dropped.

    Built from k*k strided views and elementwise maxima: no window gets copied out. The
    cache holds the input and the output: backward needs both unchanged.
    """
    h2, w2 = x.shape[1] // k, x.shape[2] // k
    out = x[:, 0:h2 * k:k, 0:w2 * k:k, :].copy()
    for i in range(k):
        for j in range(k):
            if i or j:
                np.maximum(out, x[:, i:h2 * k:k, j:w2 * k:k, :], out=out)
    return out, (x, out, k)


def maxpool_backward(cache: tuple, dout: np.ndarray) -> np.ndarray:
    """Each window's gradient to its first maximum only (as PyTorch does): windows over
    blank paper tie, and sending it to every tied maximum would count it k*k times."""
    x, out, k = cache
    h2, w2 = out.shape[1:3]
    dx = np.zeros_like(x, dtype=dout.dtype)
    free = np.ones(out.shape, bool)  # windows whose maximum is not yet claimed
    for i in range(k):
        for j in range(k):
            win = (x[:, i:h2 * k:k, j:w2 * k:k, :] == out) & free
            free &= ~win
            dx[:, i:h2 * k:k, j:w2 * k:k, :] = dout * win
    return dx
