"""The IDX file format of MNIST, read and written with every field checked.

An IDX file is: two zero bytes, a type code, the number of dimensions, one big-endian
uint32 per dimension, then the data. A bad download is usually a truncated or wrong file,
so each check names the file and says what was expected and what was found.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from engine.files import FileSizeError, read_limited

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {np.dtype(v): k for k, v in _TYPES.items()}


MAX_BYTES = 1 << 30  # what read_bytes accepts by default: MNIST's largest file is 47 MB


class IDXError(ValueError):
    """A file that is not valid IDX data; the message names the file and the problem."""


def gzip_limit(max_bytes: int) -> int:
    """The most a gzip of `max_bytes` of data can take: incompressible data grows by 5 bytes
    per 32 KiB deflate block, plus the header and trailer."""
    return max_bytes + 5 * (max_bytes // 32768 + 1) + 1024


def gunzip(raw: bytes, max_bytes: int, name: str) -> bytes:
    """`raw` decompressed, refused as soon as it would exceed `max_bytes`: a few KB of gzip
    can expand to gigabytes, so the output is bounded while it is produced."""
    def member():
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)

    out, size, data, d = [], 0, raw, member()
    try:
        while True:
            chunk = d.decompress(data, max_bytes + 1 - size)
            size += len(chunk)
            out.append(chunk)
            if size > max_bytes:
                raise IDXError(f"{name}: decompresses to more than {max_bytes} bytes; refused "
                               "(not the expected file, or a gzip bomb)")
            if d.eof:  # another gzip member may follow, as gzip.decompress allows
                data = d.unused_data
                if not data.strip(b"\0"):
                    break
                d = member()
            elif not (data := d.unconsumed_tail):
                raise EOFError("the compressed stream ends early")
    except (zlib.error, EOFError) as e:
        raise IDXError(f"{name}: broken gzip stream ({e}); the file is truncated or "
                       "corrupt") from e
    return b"".join(out)


def read_bytes(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's payload, decompressed if it is gzip (recognised by content, not name), if
    it holds at most `max_bytes`: the file's size is checked before it is read and the
    decompressed size while it is decompressed, so neither a huge (or sparse) file nor a
    gzip bomb can exhaust memory."""
    path = Path(path)
    try:
        raw = read_limited(path, gzip_limit(max_bytes))
    except FileSizeError as e:
        raise IDXError(f"{e}; refused (not the expected file)") from None
    if raw[:2] != b"\x1f\x8b":
        if len(raw) > max_bytes:
            raise IDXError(f"{path}: {len(raw)} bytes, more than the {max_bytes} allowed")
        return raw
    return gunzip(raw, max_bytes, str(path))


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
    expected = math.prod(dims) * dtype.itemsize  # Python ints: a product cannot overflow
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise IDXError(f"{name}: {what}: dimensions {list(dims)} need {expected} bytes of data, "
                       f"found {found}")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> np.ndarray:
    return parse_idx(read_bytes(path, max_bytes), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    dtype = np.dtype(array.dtype).newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = _CODES.get(np.dtype(dtype))
    if code is None:
        raise IDXError(f"IDX cannot store dtype {array.dtype}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype).tobytes()
