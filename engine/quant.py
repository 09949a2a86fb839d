"""Weight quantisation: symmetric int8 and int4, and packing int4 two to a byte.

Symmetric (no zero point) because trained weights are centred on zero. Scales are per
output channel, or per group of `group_size` consecutive inputs within an output channel:
smaller groups follow the weights' local range, which matters at 4 bits where there are
only 15 levels. A weight is recovered as q * scale, off by at most half a step.
"""

from __future__ import annotations

import numpy as np


def quantize(W: np.ndarray, bits: int, group_size: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """W (in, out) float -> (q int8 (in, out) in [-qmax, qmax], scales float32 (groups, out)).

    With group_size None there is one group (per-output-channel scales); otherwise groups
    of `group_size` rows, the last one possibly shorter.
    """
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be 2..8, not {bits}")
    qmax = 2 ** (bits - 1) - 1
    n_in = W.shape[0]
    g = n_in if group_size is None else group_size
    if g < 1:
        raise ValueError(f"group_size must be positive, not {group_size}")
    starts = np.arange(0, n_in, g)
    amax = np.maximum.reduceat(np.abs(W), starts, axis=0)
    scales = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    full = np.repeat(scales, g, axis=0)[:n_in].astype(np.float64)
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
    return (q * np.repeat(scales, g, axis=0)[:n_in]).astype(dtype)


def pack_int4(q: np.ndarray) -> np.ndarray:
    """Signed values in [-8, 7] -> uint8, two per byte (element 2k low nibble, 2k+1 high).

    The flattened array is padded with a zero nibble when its length is odd; unpacking
    needs the element count to drop it again.
    """
    flat = np.asarray(q).ravel()
    if flat.size and (flat.min() < -8 or flat.max() > 7):
        raise ValueError("int4 values must lie in [-8, 7]")
    nib = (flat.astype(np.int16) & 0xF).astype(np.uint8)
    if nib.size % 2:
        nib = np.append(nib, np.uint8(0))
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """Inverse of pack_int4: the first `count` signed values, as int8."""
    packed = np.asarray(packed, dtype=np.uint8).ravel()
    if count > 2 * packed.size or count < 2 * packed.size - 1:
        raise ValueError(f"{packed.size} packed bytes cannot hold {count} int4 values")
    nib = np.empty(2 * packed.size, np.int8)
    nib[0::2] = packed & 0xF
    nib[1::2] = packed >> 4
    nib[nib > 7] -= 16  # two's complement of a nibble
    return nib[:count]
