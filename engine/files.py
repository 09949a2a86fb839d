"""Reading a file whose size is known to be bounded: checked with stat before a byte is read.

A path may name a FIFO (open would block), a device that never ends, or a sparse file of
terabytes; reading it whole first and comparing the size after is how a loader ends in a
hang or a MemoryError. Here the open cannot block, the size is read from the open file
(so it cannot change between check and read), and at most the limit is ever read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileSizeError(ValueError):
    """Not a regular file, or not of the size allowed; the message names the file."""


def read_limited(path: str | os.PathLike, max_bytes: int, *, exact: int | None = None) -> bytes:
    """The bytes of the regular file `path`, if it holds at most `max_bytes` (and exactly
    `exact`, when given); else FileSizeError before anything is read.

    OSError (missing, unreadable) passes through for the caller to word."""
    path = Path(path)
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer for ever.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileSizeError(f"{path} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        if exact is not None and st.st_size != exact:
            raise FileSizeError(f"{path} is {st.st_size} bytes, expected {exact}")
        if st.st_size > max_bytes:
            raise FileSizeError(f"{path} is {st.st_size} bytes, more than the {max_bytes} "
                                "allowed")
        data = f.read(max_bytes + 1)  # a file growing meanwhile is still read only this far
    if len(data) > max_bytes or (exact is not None and len(data) != exact):
        raise FileSizeError(f"{path} changed size while it was read")
    return data
