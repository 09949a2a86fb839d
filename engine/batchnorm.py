"""Batch normalisation of convolution maps: trained with, then folded away.

Each channel of a convolution's output is standardised over the batch and every place of
the map, then scaled and shifted by a learnt γ and β (Ioffe & Szegedy 2015): activations
keep their scale however the weights move, so a deeper network trains at a higher rate and
settles better. At inference the batch's statistics give way to running averages kept
during training, and the whole layer becomes one affine map per channel. Folded into the
convolution before it (W·a and (b − μ)·a + β, a = γ / √(σ² + ε)), it costs nothing, and a
shipped model carries no trace of it: every precision quantises the folded weights.

Every statistic is one computation over the whole batch, never split among threads, so the
weights do not depend on how many threads shared the batch.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from engine import parallel
from engine.channels import along, rows

EPS = 1e-5
MOMENTUM = 0.1  # weight of each batch in the running averages (PyTorch's default)


class BatchNorm:
    """γ (`scale`), β (`shift`) and the running mean and variance of one layer's channels."""

    def __init__(self, scale: np.ndarray, shift: np.ndarray, mean: np.ndarray,
                 var: np.ndarray):
        self.scale, self.shift, self.mean, self.var = scale, shift, mean, var

    @classmethod
    def fresh(cls, channels: int, dtype: np.dtype | str) -> BatchNorm:
        """Standardise and leave as is: γ = 1, β = 0, statistics of a unit normal."""
        return cls(np.ones(channels, dtype), np.zeros(channels, dtype),
                   np.zeros(channels, dtype), np.ones(channels, dtype))

    def standardise(self, z: np.ndarray) -> np.ndarray:
        """Turn the whole batch's map `z` (N, H, W, C) into x̂ = (z − μ) / √(σ² + ε) in
        place, μ and σ² its own per channel; fold them into the running averages. Returns
        1 / √(σ² + ε), which the backward pass needs."""
        flat = z.reshape(-1, z.shape[-1])
        count = len(flat)
        mean = np.einsum("ij->j", flat) / count
        centred = rows(z)
        centred -= along(mean, z)
        var = np.einsum("ij,ij->j", flat, flat) / count  # two passes: no cancellation
        inv = (1.0 / np.sqrt(var + EPS)).astype(z.dtype)
        centred *= along(inv, z)
        self.mean *= 1 - MOMENTUM
        self.mean += MOMENTUM * mean
        self.var *= 1 - MOMENTUM
        self.var += MOMENTUM * var * (count / max(count - 1, 1))  # unbiased, as PyTorch keeps
        return inv

    def affine(self, xhat: np.ndarray) -> np.ndarray:
        """γ x̂ + β, a new array (x̂ stays for the backward pass)."""
        y = rows(xhat) * along(self.scale, xhat)
        y += along(self.shift, xhat)
        return y.reshape(xhat.shape)

    @staticmethod
    def param_grads(dy: np.ndarray, xhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dL/dγ and dL/dβ over the whole batch, from dL/dy (shaped like x̂)."""
        c = dy.shape[-1]
        dy2, xh2 = dy.reshape(-1, c), xhat.reshape(-1, c)
        # Two sums, each over the whole batch: one thread each when there are two
        dscale, dshift = parallel.run([partial(np.einsum, "ij,ij->j", dy2, xh2),
                                       partial(np.einsum, "ij->j", dy2)])
        return dscale, dshift

    def input_grad(self, dy: np.ndarray, xhat: np.ndarray, inv: np.ndarray,
                   dscale: np.ndarray, dshift: np.ndarray, count: int,
                   out: np.ndarray | None = None) -> np.ndarray:
        """dL/dz for a share of the batch: γ / √(σ² + ε) · (dy − mean(dy) − x̂ · mean(dy x̂)),
        the means over the whole batch (`count` values per channel: dshift / count and
        dscale / count). Into `out` when given (it may be `dy` itself)."""
        o = np.subtract(rows(dy), rows(xhat) * along(dscale / count, xhat),
                        out=None if out is None else rows(out))
        o -= along(dshift / count, xhat)
        o *= along(self.scale * inv, xhat)
        return o.reshape(dy.shape)

    def fold(self, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The convolution (W, b) followed by this layer at inference, as one convolution."""
        a = self.scale / np.sqrt(self.var + EPS)
        return (W * a).astype(W.dtype), ((b - self.mean) * a + self.shift).astype(b.dtype)
