"""Write files so a reader sees the old file or the whole new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask, read without changing it where the kernel says it (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        status = Path("/proc/self/status").read_text()
        if m := re.search(r"^Umask:\s*([0-7]+)$", status, re.M):
            return int(m.group(1), 8)
    with _UMASK_LOCK:  # elsewhere the only way to read it is to set it, briefly
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open()` would give a new file: 0o666 less the umask (0o644 normally)."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds.

    The file gets the mode a plain `open()` would give it (mkstemp's 0600 would leave a
    shared models folder or README readable by its owner only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def is_temporary(path: Path) -> bool:
    """Whether `path` is one of atomic_open's temporaries (left behind by a killed writer)."""
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()
