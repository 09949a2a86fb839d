"""Convolution and max-pooling in NumPy, forward and backward by hand.

Images are NHWC and kernels (kh, kw, in, out), so a convolution is one matrix product:
the patches under the kernel, gathered once per layer into rows of kh*kw*in values
(im2col), times the kernel as a (kh*kw*in, out) matrix. Output channels sit on the last
axis like a dense layer's, so quantisation treats both alike.
"""

from __future__ import annotations

import numpy as np

from engine.channels import along, rows
from engine.model import fold_scale

# A pass over a batch's patches runs a group of images at a time when they would outgrow
# this (near the caches' size), so that each product reads a patch matrix written just
# before and still cached: `cnn-c16c32c32c64`'s batch inference, its second layer's 7 MB
# of patches a chunk in four groups, ran 1.25-1.6x faster.
GROUP_BYTES = 2 << 20


def groups(n: int, image_bytes: int) -> list[slice]:
    """n images in groups of at most GROUP_BYTES (`image_bytes` an image), one image at
    least: all n when they fit. A product's row comes out the same bits whatever the
    number of rows beside it, so grouping changes no number."""
    step = n if n * image_bytes <= GROUP_BYTES else max(1, GROUP_BYTES // image_bytes)
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


def im2col(x: np.ndarray, kh: int, kw: int, out: np.ndarray | None = None) -> np.ndarray:
    """(N, H, W, C) -> (N, H-kh+1, W-kw+1, kh, kw, C): every valid patch, copied once
    (into `out` when given)."""
    n, h, w, c = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    if out is None:
        out = np.empty((n, oh, ow, kh, kw, c), x.dtype)
    if c > 1:  # one copy of a strided view, a patch row's kw*C values at a time
        s = x.strides
        view = np.ndarray((n, oh, ow, kh, kw * c), x.dtype, x, 0, (s[0], s[1], s[2], s[1], s[3]))
        rows = out.view()
        rows.shape = (n, oh, ow, kh, kw * c)  # a view, never a copy (raises instead)
        np.copyto(runs(rows), runs(view))
        return out
    # One channel: kh*kw slice copies beat the view's copy (measured 1.5x)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, i, j, :] = x[:, i:i + oh, j:j + ow, :]
    return out


def runs(a: np.ndarray) -> np.ndarray:
    """`a` with its last axis (contiguous) as one opaque item. A strided copy costs per
    run, not per value: copying runs of k*C values as single items is faster than value
    by value (NumPy 2.4 here, the zoo's shapes: 17-37% for one image's patches, 7-32% for
    a training batch's)."""
    return a.view(np.dtype((np.void, a.shape[-1] * a.itemsize)))


def window_rows(a: np.ndarray, k: int, q: int) -> np.ndarray:
    """A contiguous (N, H, W, C) map's k x k patches as a strided view (N, q, q, OH, OW, k,
    k*C): rows window place by window place for q x q pooling (rows a ragged pool drops
    left out). A patch row's k pixels of C values lie side by side in the map: runs of k*C
    values for the copy that follows, not k runs of C."""
    n, h, w, c = a.shape
    oh, ow = (h - k + 1) // q, (w - k + 1) // q
    im, r, col, ch = a.strides
    return np.ndarray((n, q, q, oh, ow, k, k * c), a.dtype, a, 0,
                      (im, r, col, q * r, q * col, r, ch))


def pooled_product(patches: np.ndarray, conv: Conv2D, late: bool, q: int, out: np.ndarray
                  ) -> None:
    """Some images' patches, rows window place by window place (`window_rows`' order),
    times the kernel, max-pooled over the q*q places (contiguous blocks) into `out`
    (images, pooled places, out channels). The layer's scale and bias are applied here
    only when they cannot wait until after the pooling (not `late`: a negative scale)."""
    c_out = conv.W.shape[-1]
    rows = patches.reshape(-1, conv.W[..., 0].size)
    # nothing to pool (q == 1): the product goes straight to `out`
    z = np.matmul(rows, conv.W.reshape(-1, c_out), out=out.reshape(-1, c_out) if q == 1 else None)
    if not late:
        fold_scale(z, conv.scale, conv.b)
    if q == 1:
        return
    z = z.reshape(len(out), q * q, -1, c_out)
    np.maximum(z[:, 0], z[:, 1], out=out)
    for place in range(2, q * q):
        np.maximum(out, z[:, place], out=out)


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

    def __setattr__(self, name: str, value) -> None:
        if getattr(self, "_frozen", False):  # set by CNN.freeze: layouts were derived from it
            raise AttributeError(f"a frozen model's layers are fixed (setting {name}); "
                                 "change model.copy() instead")
        object.__setattr__(self, name, value)

    def patches_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The patches of an (N, H, W, C) input: (N, OH, OW, kh, kw, C)."""
        n, h, w, c = shape
        kh, kw = self.W.shape[:2]
        return n, h + 2 * self.pad - kh + 1, w + 2 * self.pad - kw + 1, kh, kw, c

    def __call__(self, x: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """(N, H, W, C) -> (N, OH, OW, out). The patches are gathered into `cols` when
        given (an array of `patches_shape`), where the backward pass will read them."""
        if cols is None:
            cols = np.empty(self.patches_shape(x.shape), x.dtype)
        if self.pad:
            x = zero_padded(x, self.pad)
        kh, kw, c_in, c_out = self.W.shape
        n, oh, ow = cols.shape[:3]
        z = np.empty((n, oh, ow, c_out), x.dtype)
        W = self.W.reshape(-1, c_out)
        for s in groups(n, cols[0].nbytes):  # each product while its patches are cached
            im2col(x[s], kh, kw, out=cols[s])
            np.matmul(cols[s].reshape(-1, kh * kw * c_in), W, out=z[s].reshape(-1, c_out))
        fold_scale(rows(z), None if self.scale is None else along(self.scale, z),
                   along(self.b, z))  # per image, not per place (engine/channels.py)
        return z

    def weight_grad(self, cols: np.ndarray, dz: np.ndarray) -> np.ndarray:
        """dL/dW = patches^T dz, from a whole batch's patches and dL/dz (N, OH, OW, out)."""
        k, c_out = self.W[..., 0].size, self.W.shape[-1]
        return (cols.reshape(-1, k).T @ dz.reshape(-1, c_out)).reshape(self.W.shape)

    def bias_grad(self, dz: np.ndarray) -> np.ndarray:
        """dL/db: dz summed over the batch and the map. einsum adds the rows in the same
        order as .sum(axis=0), with a fraction of its per-row cost for a few channels
        (measured 3-4x). It starts from +0 where .sum starts from the first row, so a
        channel of negative zeros sums to +0 rather than -0: the same update either way."""
        return np.einsum("ij->j", dz.reshape(-1, self.W.shape[-1]))

    def input_grad(self, dz: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """dL/dx for an input of `shape` (N, H, W, C), from dL/dz (N, OH, OW, out)."""
        n, h, w, c = shape
        p = self.pad
        dz2 = dz.reshape(-1, self.W.shape[-1])
        if self.scale is not None:
            dz2 = dz2 * self.scale
        dx = conv_input_grad(dz2, self.W, (n, h + 2 * p, w + 2 * p, c))
        return dx[:, p:-p, p:-p, :] if p else dx


def _places(x: np.ndarray, k: int) -> np.ndarray:
    """An (N, H, W, C) map as a strided view (k, k, N, H//k, W//k, C): [i, j] is every
    window's value at place (i, j) (a ragged last row or column left out)."""
    n, h, w, c = x.shape
    s = x.strides
    return np.ndarray((k, k, n, h // k, w // k, c), x.dtype, x, 0,
                      (s[1], s[2], s[0], k * s[1], k * s[2], s[3]))


def maxpool(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, tuple]:
    """k x k max-pooling with stride k; a ragged last row or column is dropped.

    The map is copied once window place by window place (runs of C values), so the
    maxima here and the comparisons in the backward pass run on contiguous blocks rather
    than on strided views whose runs are C values long (2x faster backward). The cache
    holds that copy and the output."""
    view = _places(x, k)
    places = np.empty(view.shape, x.dtype)
    np.copyto(runs(places), runs(view))
    out = np.maximum.reduce(places.reshape(k * k, -1), axis=0).reshape(view.shape[2:])
    return out, (places, out, k, x.shape)


def maxpool_backward(cache: tuple, dout: np.ndarray, out: np.ndarray | None = None
                     ) -> np.ndarray:
    """Each window's gradient to its first maximum only (as PyTorch does): windows over
    blank paper tie, and sending it to every tied maximum would count it k*k times.
    Written into `out` when given (shaped like the pooled input)."""
    places, pooled, k, shape = cache
    h2, w2 = pooled.shape[1:3]
    if out is None:
        dx = np.zeros(shape, dout.dtype)
    else:  # every place of every window is written below; only a ragged edge is not
        dx = out
        dx[:, h2 * k:] = 0
        dx[:, :, w2 * k:] = 0
    grads = np.empty(places.shape, dout.dtype)
    free = np.ones(pooled.shape, bool)  # windows whose maximum is not yet claimed
    win = np.empty(pooled.shape, bool)
    for p in range(k * k):
        i, j = divmod(p, k)
        np.equal(places[i, j], pooled, out=win)
        if p:  # every window is free at the first place
            win &= free
        if p < k * k - 1:  # none is asked after the last
            free ^= win  # win lies within free: this clears the windows just claimed
        np.multiply(dout, win, out=grads[i, j])
    np.copyto(runs(_places(dx, k)), runs(grads))
    return dx
