"""The IDX file format of MNIST, read and written with every field checked.

An IDX file is: two zero bytes, a type code, the number of dimensions, one big-endian
uint32 per dimension, then the data. A bad download is usually a truncated or wrong file,
so each check names the file and says what was expected and what was found.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {np.dtype(v): k for k, v in _TYPES.items()}


class IDXError(ValueError):
    """A file that is not valid IDX data; the message names the file and the problem."""


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's payload, decompressed if it is gzip (recognised by content, not name)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise IDXError(f"{path}: broken gzip stream ({e}); the file is truncated or corrupt") from e


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    if len(data) < 4:
        raise IDXError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _TYPES:
        raise IDXError(f"{name}: wrong magic number 0x{data[:4].hex()} "
                       "(expected 0x0000 then a type code such as 0x08, then the dimensions)")
    if ndim == 0:
        raise IDXError(f"{name}: header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{name}: truncated header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_TYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise IDXError(f"{name}: {what}: dimensions {list(dims)} need {expected} bytes of data, "
                       f"found {found}")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    return parse_idx(read_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    dtype = np.dtype(array.dtype).newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = _CODES.get(np.dtype(dtype))
    if code is None:
        raise IDXError(f"IDX cannot store dtype {array.dtype}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype).tobytes()
