"""One convolution layer's training passes over a batch shared among threads.

conv -> (batch normalisation) -> max-pool -> ReLU, forward and back, for `engine.cnn`'s
training step (and `bench/roofline.py`, which times them layer by layer). A share of the
images is one thread's (engine/parallel.py); what sums over the batch (the weight and bias
gradients, the normalisation's statistics) is one computation on whole-batch arrays, so
the result does not depend on how many threads shared it.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from engine import parallel
from engine.batchnorm import BatchNorm
from engine.conv import Conv2D, maxpool, maxpool_backward
from engine.functional import relu
from engine.model import Grads


def layer_forward(conv: Conv2D, pool: int, a: np.ndarray, cols: np.ndarray
                  ) -> tuple[np.ndarray, tuple]:
    """A share of images through one conv -> max-pool -> ReLU layer, its patches gathered
    into `cols`: the layer's output, and what its backward pass needs."""
    z = conv(a, cols=cols)
    z, pool_cache = maxpool(z, pool) if pool > 1 else (z, None)
    a = relu(z)  # the pooled map stays intact for the pool's backward
    return a, (pool_cache, a)


def convolve(conv: Conv2D, a: np.ndarray, cols: np.ndarray, z: np.ndarray, _: int,
             s: slice) -> None:
    """Share `s` of the images `a` through the convolution, into the whole batch's `z`."""
    z[s] = conv(a[s], cols=cols[s])


def normed_rest(norm: BatchNorm, pool: int, xhat: np.ndarray, out: np.ndarray,
                kept: list, k: int, s: slice) -> None:
    """Share `s` (the k-th) of a standardised map `xhat` through γ, β, max-pooling and ReLU,
    into the whole batch's `out`; what its backward pass needs into `kept[k]`."""
    y = norm.affine(xhat[s])
    y, pool_cache = maxpool(y, pool) if pool > 1 else (y, None)
    relu(y, out=out[s])
    kept[k] = (pool_cache, out[s])


def layer_backward(conv: Conv2D, cols: np.ndarray, kept: list[tuple], douts: list[np.ndarray],
                   shares: list[slice], params: bool, in_shapes: list[tuple] | None
                   ) -> tuple[Grads, list[np.ndarray] | None]:
    """One layer's backward pass over the whole batch, its shares on the threads: from each
    share's dL/d(output) and what `layer_forward` kept, [dL/db, dL/dW] (when `params`) and
    each share's dL/d(input) (for inputs of `in_shapes`, when given)."""
    dzc = _through_pool(kept, douts, shares, (*cols.shape[:3], conv.W.shape[-1]))
    return _conv_grads(conv, cols, dzc, shares, params, in_shapes)


def normed_backward(conv: Conv2D, norm: BatchNorm, cols: np.ndarray, xhat: np.ndarray,
                    inv: np.ndarray, kept: list[tuple], douts: list[np.ndarray],
                    shares: list[slice], params: bool, in_shapes: list[tuple] | None
                    ) -> tuple[Grads, list[np.ndarray] | None, Grads]:
    """`layer_backward` for a batch-normalised layer, and [dL/dβ, dL/dγ] (when `params`).
    The normalisation's sums run over the whole batch at once, between the shares'
    passes."""
    dy = _through_pool(kept, douts, shares, xhat.shape)
    dscale, dshift = norm.param_grads(dy, xhat)
    count = xhat.size // xhat.shape[-1]
    parallel.each(lambda _, s: norm.input_grad(dy[s], xhat[s], inv, dscale, dshift, count,
                                               out=dy[s]), shares)
    grads, dins = _conv_grads(conv, cols, dy, shares, params, in_shapes)
    return grads, dins, [dshift, dscale] if params else []


def _through_pool(kept: list[tuple], douts: list[np.ndarray], shares: list[slice],
                  shape: tuple[int, ...]) -> np.ndarray:
    """dL/d(pre-pooling map), whole batch, from each share's dL/d(layer output)."""
    dzc = np.empty(shape, douts[0].dtype)

    def through_pool(k: int, s: slice) -> None:
        pool_cache, a = kept[k]
        d = douts[k] * (a > 0)
        if pool_cache is None:
            dzc[s] = d
        else:
            maxpool_backward(pool_cache, d, out=dzc[s])

    parallel.each(through_pool, shares)
    return dzc


def _conv_grads(conv: Conv2D, cols: np.ndarray, dzc: np.ndarray, shares: list[slice],
                params: bool, in_shapes: list[tuple] | None
                ) -> tuple[Grads, list[np.ndarray] | None]:
    # The weight and bias gradients and each share's input gradient all read dzc alone:
    # one set of tasks, so a thread that finishes early takes the next. The weight
    # gradient, the longest, first and the short bias sum last, where it fills the gap
    # before the other thread's last task ends (0-5% faster at 2 threads than in the
    # order of the results).
    tasks = [partial(conv.weight_grad, cols, dzc)] if params else []
    if in_shapes is not None:
        tasks += [partial(conv.input_grad, dzc[s], shape) for s, shape in zip(shares, in_shapes)]
    if params:
        tasks.append(partial(conv.bias_grad, dzc))
    results = parallel.run(tasks)
    grads = [results.pop(), results.pop(0)] if params else []
    return grads, results if in_shapes is not None else None
