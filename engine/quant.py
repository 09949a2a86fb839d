"""Weight quantisation: symmetric int8, int4 and ternary (2-bit), packing sub-byte codes,
and the fake quantisation that quantisation-aware training runs its forward pass through.

Symmetric (no zero point) because trained weights are centred on zero. Scales are per
output channel, or per group of `group_size` consecutive inputs within an output channel:
smaller groups follow the weights' local range, which matters at 4 bits where there are
only 15 levels. A weight is recovered as q * scale, off by at most half a step.

Two ways to pick a scale: "absmax" (the largest weight uses the top level, nothing is
clipped) and "absmean" (the mean |w|, as BitNet b1.58 does for ternary weights: with only
-1, 0 and +1, absmax would round nearly every weight to zero because of a few large ones).
"""

from __future__ import annotations

import numpy as np

SCALES = ("absmax", "absmean")


def quantize(W: np.ndarray, bits: int, group_size: int | None = None, scale: str = "absmax"
             ) -> tuple[np.ndarray, np.ndarray]:
    """W (in, out) float -> (q int8 (in, out) in [-qmax, qmax], scales float32 (groups, out)).

    With group_size None there is one group (per-output-channel scales); otherwise groups
    of `group_size` rows, the last one possibly shorter. bits=2 gives ternary codes.
    """
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be 2..8, not {bits}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    qmax = 2 ** (bits - 1) - 1
    n_in = W.shape[0]
    g = n_in if group_size is None else group_size
    if g < 1:
        raise ValueError(f"group_size must be positive, not {group_size}")
    starts = np.arange(0, n_in, g)
    if scale == "absmax":
        amax = np.maximum.reduceat(np.abs(W), starts, axis=0) / qmax
    else:
        counts = np.diff(np.append(starts, n_in))[:, None]
        amax = np.add.reduceat(np.abs(W), starts, axis=0) / counts
    scales = np.where(amax > 0, amax, 1.0).astype(np.float32)
    # One scale row per input row; with one group, broadcast instead of repeated (the same
    # quotients without a full-size float64 copy: QAT does this every step).
    full = (scales if group_size is None else np.repeat(scales, g, axis=0)[:n_in]
            ).astype(np.float64)
    q = np.clip(np.rint(W / full), -qmax, qmax).astype(np.int8)
    return q, scales


def dequantize(q: np.ndarray, scales: np.ndarray, group_size: int | None = None,
               dtype: str | np.dtype = "float32") -> np.ndarray:
    """q * scale, each scale row covering its group of `group_size` input rows.

    The group size is passed, not inferred: 101 rows in groups of 32 make 4 groups, and
    so would groups of 26.
    """
    n_in = q.shape[0]
    g = n_in if group_size is None else group_size
    if scales.shape[0] != -(-n_in // g):
        raise ValueError(f"{scales.shape[0]} scale rows do not fit {n_in} rows in groups of {g}")
    full = scales if group_size is None else np.repeat(scales, g, axis=0)[:n_in]
    return (q * full).astype(dtype, copy=False)


def fake_quantize(W: np.ndarray, bits: int, group_size: int | None = None,
                  scale: str = "absmax") -> np.ndarray:
    """W rounded to the grid it will be stored on, in W's shape and dtype.

    Any tensor with output channels last (a dense matrix, a conv kernel) is read as an
    (inputs, outputs) matrix, exactly as the precisions store it, so what training sees is
    what ships.
    """
    matrix = W.reshape(-1, W.shape[-1])
    q, scales = quantize(matrix, bits, group_size, scale)
    return dequantize(q, scales, group_size, W.dtype).reshape(W.shape)


def pack_bits(q: np.ndarray, bits: int) -> np.ndarray:
    """Signed values in [-2^(bits-1), 2^(bits-1)-1] -> uint8, 8/bits per byte.

    Element k*per + j goes to bits [j*bits, (j+1)*bits) of byte k (the first element in the
    low bits). The flattened array is padded with zero codes to whole bytes; unpacking needs
    the element count to drop them again.
    """
    if bits not in (2, 4):
        raise ValueError(f"can pack 2 or 4 bits per value, not {bits}")
    per, lo, hi = 8 // bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    flat = np.asarray(q).ravel()
    if flat.size and (flat.min() < lo or flat.max() > hi):
        raise ValueError(f"int{bits} values must lie in [{lo}, {hi}]")
    codes = (flat.astype(np.int16) & (2 ** bits - 1)).astype(np.uint8)
    codes = np.append(codes, np.zeros(-codes.size % per, np.uint8))
    packed = np.zeros(codes.size // per, np.uint8)
    for j in range(per):
        packed |= codes[j::per] << np.uint8(j * bits)
    return packed


def unpack_bits(packed: np.ndarray, count: int, bits: int) -> np.ndarray:
    """Inverse of pack_bits: the first `count` signed values, as int8."""
    if bits not in (2, 4):
        raise ValueError(f"can unpack 2 or 4 bits per value, not {bits}")
    per, mask = 8 // bits, 2 ** bits - 1
    packed = np.asarray(packed, dtype=np.uint8).ravel()
    if not per * packed.size - per < count <= per * packed.size:
        raise ValueError(f"{packed.size} packed bytes cannot hold {count} int{bits} values")
    codes = np.empty(per * packed.size, np.int8)
    for j in range(per):
        codes[j::per] = (packed >> np.uint8(j * bits)) & mask
    codes[codes > mask >> 1] -= 2 ** bits  # two's complement of the code
    return codes[:count]

