"""Fetching MNIST from a hostile mirror, or reading it from a hostile folder, is bounded.

The mirror is a real HTTP server on 127.0.0.1 that misbehaves on purpose: it streams for
ever, lies about its size, serves a gzip bomb, trickles a byte at a time or never answers.
Each is refused with a message naming the file and the mirror, having read no more than
the file can be (checked on the memory the download allocated, not on time).
"""

import gzip
import http.server
import socket
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest

from engine.data.idx import gzip_limit
from engine.data.mnist import SIZES, MNISTError, download_file, load_mnist, mirrors
from tests.conftest import ROOT

LABELS = "train-labels-idx1-ubyte"  # 60,008 bytes: the smallest file a bomb can hide in
SENT_AT_MOST = 64 << 20  # the server's own bound: it stops an endless stream here
BOMB = gzip.compress(b"\0" * (32 << 20), compresslevel=9)  # 32 KB that inflate to 32 MiB


class Hostile(http.server.BaseHTTPRequestHandler):
    """GET /<mode>/<file>: misbehave as `mode` says."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        mode = self.path.split("/")[1]
        try:
            getattr(self, f"_{mode.replace('-', '_')}")()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up: what it should do

    def _head(self, length=None):
        self.send_response(200)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _endless(self):  # no Content-Length, and no end
        self._head()
        chunk, sent = b"\0" * 65536, 0
        while sent < SENT_AT_MOST:
            self.wfile.write(chunk)
            sent += len(chunk)

    def _liar(self):  # declares a gigabyte
        self._head(1 << 30)
        self.wfile.write(b"\0" * 1024)

    def _bomb(self):
        self._head(len(BOMB))
        self.wfile.write(BOMB)

    def _trickle(self):  # a byte every 0.2 s: no read ever waits long enough to time out
        self._head(SIZES[LABELS])
        for _ in range(200):
            self.wfile.write(b"\0")
            self.wfile.flush()
            time.sleep(0.2)

    def _trickle_headers(self):
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 200:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.2)

    def _silent(self):  # reads the request, answers nothing
        time.sleep(40)


@pytest.fixture(scope="module")
def mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DOWNLOAD_DEADLINE", "1")
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("DIGIT_ZOO_CACHE", str(tmp_path / "cache"))


def fetch_from(base, mode, tmp_path):
    """Download LABELS from one hostile mirror; the error and the peak memory it took."""
    tracemalloc.start()
    try:
        with pytest.raises(MNISTError) as e:
            download_file(LABELS, tmp_path, [f"{base}/{mode}/"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(e.value)
    assert message.startswith(f"could not download {LABELS} from any mirror")
    assert f"{base}/{mode}/{LABELS}.gz" in message
    assert not list(tmp_path.glob("*.gz")) and not list(tmp_path.glob(".*.tmp"))
    return message, peak


@pytest.mark.parametrize(("mode", "reason"), [
    ("endless", f"exceeds the {gzip_limit(SIZES[LABELS])} bytes this file can take"),
    ("liar", "declares 1073741824 bytes, more than"),
    ("bomb", f"decompresses to more than {SIZES[LABELS]} bytes"),
])
def test_a_mirror_cannot_make_a_download_take_more_memory_than_the_file(mirror, tmp_path,
                                                                        mode, reason):
    message, peak = fetch_from(mirror, mode, tmp_path)
    assert reason in message
    assert message.count(f"{mirror}/{mode}/{LABELS}.gz") == 1, message
    assert peak < 2 * gzip_limit(SIZES[LABELS]) + (1 << 20)  # not the 64 MiB on offer


@pytest.mark.parametrize("mode", ["trickle", "trickle-headers", "silent"])
def test_a_slow_mirror_meets_the_download_deadline(mirror, tmp_path, mode):
    message, _ = fetch_from(mirror, mode, tmp_path)
    assert "did not finish within 1 s" in message and "MNIST_DOWNLOAD_DEADLINE" in message


def test_every_mirror_fails_by_name_then_the_next_is_tried(mirror, tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    monkeypatch.setenv("MNIST_MIRRORS", f"{mirror}/endless/ {dead} {mirror}/bomb/")
    with pytest.raises(MNISTError) as e:
        load_mnist(progress=False)
    lines = str(e.value).splitlines()
    assert lines[0] == "could not download train-images-idx3-ubyte from any mirror:"
    assert len(lines) == 5 and "--data DIR" in lines[-1]


def test_https_mirrors_are_tried_first(monkeypatch):
    monkeypatch.setenv("MNIST_MIRRORS", "http://a.example/m http://b.example/ https://c.example/")
    assert mirrors() == ["https://c.example/", "http://a.example/m/", "http://b.example/"]
    monkeypatch.delenv("MNIST_MIRRORS")
    assert all(m.startswith("https://") for m in mirrors()[:2])


def folder_with(tmp_path, name, make):
    folder = tmp_path / "data"
    folder.mkdir()
    for other in SIZES:
        (folder / other).write_bytes(b"")  # never reached: the first file fails
    (folder / name).unlink()
    make(folder)
    return folder


def test_a_gzip_bomb_in_the_data_folder_is_refused_by_name(tmp_path):
    name = "train-images-idx3-ubyte"
    bomb = gzip.compress(b"\0" * (SIZES[name] + 1), compresslevel=9)
    folder = folder_with(tmp_path, name, lambda f: (f / f"{name}.gz").write_bytes(bomb))
    tracemalloc.start()
    try:
        with pytest.raises(MNISTError, match=rf"{name}.gz: decompresses to more than "
                                             rf"{SIZES[name]} bytes"):
            load_mnist(folder, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * SIZES[name] + (4 << 20)  # one payload, never more than the cap


def test_a_huge_sparse_file_passed_with_data_is_a_clear_error(tmp_path):
    name = "train-images-idx3-ubyte"
    folder = folder_with(tmp_path, name,
                         lambda f: f.joinpath(name).open("wb").truncate(100 << 30))
    out = subprocess.run([sys.executable, "train.py", "--quick", "--data", str(folder),
                          "--out", str(tmp_path / "models")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "MemoryError" not in out.stderr
    assert f"data/{name} is 107374182400 bytes, more than the" in out.stderr
