"""Reading with the size known first, and writing with the mode a plain open() gives."""

import os

import pytest

from engine.atomic import atomic_write, file_mode, is_temporary
from engine.files import FileSizeError, read_limited


def test_read_limited_checks_before_reading(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    assert read_limited(path, 5) == b"12345" and read_limited(path, 9, exact=5) == b"12345"
    with pytest.raises(FileSizeError, match="f is 5 bytes, more than the 4 allowed"):
        read_limited(path, 4)
    with pytest.raises(FileSizeError, match="f is 5 bytes, expected 6"):
        read_limited(path, 9, exact=6)
    with path.open("r+b") as f:
        f.truncate(1 << 40)  # sparse: costs no disk, and no read happens
    with pytest.raises(FileSizeError, match="1099511627776 bytes"):
        read_limited(path, 1 << 20)
    with pytest.raises(FileSizeError, match="is not a regular file"):
        read_limited(tmp_path, 1 << 20)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # a plain open() would block here until a writer came
    with pytest.raises(FileSizeError, match="is not a regular file"):
        read_limited(fifo, 1 << 20)
    with pytest.raises(FileNotFoundError):
        read_limited(tmp_path / "missing", 1)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_write_gives_the_mode_open_would(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert file_mode() == mode
        atomic_write(tmp_path / "a.json", "{}")
        with open(tmp_path / "b.json", "w") as f:  # what a plain write gives, for comparison
            f.write("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == mode
    assert not [p for p in tmp_path.iterdir() if is_temporary(p)]
