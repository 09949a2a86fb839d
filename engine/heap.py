"""Freed memory kept in the process for reuse while it trains, not handed back to the OS.

A training step allocates and frees the same large arrays every step: a CNN's patch
matrices and maps are megabytes each (29 MB for `cnn-c8c16c16c20`'s second layer at a
batch of 128). glibc's malloc serves blocks that large with fresh pages from the kernel
and returns them when they are freed (unmapped, or trimmed off the top of its heap), so
every step paid the page faults and the kernel's zeroing of those pages again: a third of
`cnn-c8c16c16c20`'s step (73.8 -> 49.0 ms at one thread, 54.5 -> 33.4 ms at two). With
malloc's mmap and trim thresholds raised, a freed block stays in the heap and the next
step's array reuses it. The arithmetic is untouched, so the weights are the same bits.

The setting is the process's from then on (glibc cannot be put back to its adaptive
default): the process keeps up to its peak of freed memory for reuse, which is what a
training run wants. The app, which never trains, is left with the default. Where malloc
is not glibc's (macOS, musl), nothing changes.
"""

from __future__ import annotations

import ctypes
import threading

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
KEEP = 1 << 30  # bytes: blocks up to this size come from the heap; free space up to it stays

_lock = threading.Lock()
_kept: bool | None = None  # None: not tried yet


def keep_freed_memory() -> bool:
    """Ask malloc to keep freed blocks for reuse (once per process). True when it does."""
    global _kept
    with _lock:
        if _kept is None:
            _kept = _set_thresholds(KEEP)
        return _kept


def _set_thresholds(size: int) -> bool:
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process already runs on
    except (OSError, AttributeError):  # no dlopen(NULL), or a malloc without mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # The trim threshold first: raising the mmap threshold alone would let the heap's
    # top be trimmed, and give the pages back, after every step's large frees.
    return bool(mallopt(M_TRIM_THRESHOLD, size)) and bool(mallopt(M_MMAP_THRESHOLD, size))
