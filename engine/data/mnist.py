"""Where MNIST comes from, checked before it is used.

In order: an explicit folder (argument, or the MNIST_DIR environment variable), else the
user cache (~/.cache/digit-zoo/mnist, or $DIGIT_ZOO_CACHE/mnist), else a download from
public mirrors (MNIST_MIRRORS overrides the list; https first) into that cache. Every file,
wherever it comes from, must match the SHA-256 of the canonical *decompressed* payload: a
raw copy or any gzip of it is accepted, anything else is refused by name. Training on bad
data silently is the failure this module exists to prevent.

MNIST's sizes are known, so nothing here reads, downloads or decompresses more than the
file it expects: a mirror that streams for ever, a gzip bomb or a sparse file of terabytes
is refused by name, and one download from one mirror has a deadline (a server that sends
a byte every few seconds never trips a per-read timeout).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from engine.atomic import atomic_write
from engine.data.idx import IDXError, gunzip, gzip_limit, parse_idx, read_bytes

FILES = {  # name -> SHA-256 of the decompressed payload
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SIZES = {  # name -> bytes of the decompressed payload: no file may be larger
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


class MNISTError(RuntimeError):
    """MNIST could not be found, fetched or verified; the message says which file and why."""


@dataclass(frozen=True)
class MNIST:
    train_images: np.ndarray  # (60000, 28, 28) uint8
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8
    source: str


def cache_dir() -> Path:
    root = os.environ.get("DIGIT_ZOO_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "digit-zoo"
    return Path(root) / "mnist"


def mirrors() -> list[str]:
    """The mirrors to try, https ones first (plain http last: the hash check makes it safe,
    but a network in between can still feed it garbage until the deadline)."""
    env = os.environ.get("MNIST_MIRRORS", "").replace(",", " ").split()
    urls = [m if m.endswith("/") else m + "/" for m in (env or DEFAULT_MIRRORS)]
    return sorted(urls, key=lambda u: not u.lower().startswith("https://"))


def download_deadline() -> float:
    """Seconds one file may take from one mirror (MNIST_DOWNLOAD_DEADLINE, default 300:
    the largest file, 9.9 MB, at 35 kB/s)."""
    try:
        return max(0.1, float(os.environ.get("MNIST_DOWNLOAD_DEADLINE") or 300))
    except ValueError:
        return 300.0


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _verified_array(data: bytes, name: str, origin: str) -> np.ndarray:
    array = parse_idx(data, origin)
    digest = hashlib.sha256(data).hexdigest()
    if digest != FILES[name]:
        raise MNISTError(f"{origin}: SHA-256 of the decompressed data is {digest}, expected "
                         f"{FILES[name]} for {name}; the file is corrupt or not canonical MNIST")
    return array


class _Watchdog:
    """Shuts the sockets of one download when its deadline passes, whatever the download is
    waiting for then (connecting, headers, body): shutting a socket wakes a blocked read."""

    def __init__(self, seconds: float):
        self.seconds, self.fired = seconds, False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.fired:
                self._shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _watched(handler: type, watchdog: _Watchdog):
    """`handler` (urllib's HTTP or HTTPS handler) whose connections the watchdog can shut;
    proxies and redirects work as with urlopen."""
    class Watched(handler):
        def do_open(self, http_class, req, **kw):
            class Connection(http_class):
                def connect(self):
                    super().connect()
                    watchdog.watch(self.sock)

            return super().do_open(Connection, req, **kw)

    return Watched()


def fetch(url: str, max_bytes: int, deadline: float, *, desc: str = "",
          progress: bool = False) -> bytes:
    """The body at `url`, if it is at most `max_bytes` and arrives within `deadline` seconds;
    else OSError saying which bound it broke."""
    with _Watchdog(deadline) as watchdog:
        opener = urllib.request.build_opener(_watched(urllib.request.HTTPHandler, watchdog),
                                             _watched(urllib.request.HTTPSHandler, watchdog))
        try:
            with opener.open(url, timeout=min(30.0, deadline)) as response:
                declared = int(response.headers.get("Content-Length") or 0) or None
                if declared is not None and declared > max_bytes:
                    raise OSError(f"the server declares {declared} bytes, more than the "
                                  f"{max_bytes} this file can take; not downloaded")
                chunks, size = [], 0
                with tqdm(total=declared, unit="B", unit_scale=True, desc=desc,
                          disable=not progress, leave=False) as bar:
                    while chunk := response.read1(1 << 16):
                        size += len(chunk)
                        if size > max_bytes:
                            raise OSError(f"the body exceeds the {max_bytes} bytes this file "
                                          "can take; stopped")
                        chunks.append(chunk)
                        bar.update(len(chunk))
                if watchdog.fired:
                    raise OSError("cut off")
        except (OSError, http.client.HTTPException) as e:
            if watchdog.fired:
                raise TimeoutError(f"did not finish within {deadline:g} s (the deadline for "
                                   "one file from one mirror, MNIST_DOWNLOAD_DEADLINE)") from e
            if isinstance(e, OSError):
                raise
            raise OSError(f"bad HTTP response ({e.__class__.__name__}: {e})") from e
    return b"".join(chunks)


def download_file(name: str, dest: Path, urls: list[str], progress: bool = False) -> np.ndarray:
    """Fetch `name` from the first mirror that serves it intact, check it and cache it in
    `dest` as .gz; MNISTError naming the file and each mirror's failure otherwise."""
    failures = []
    for base in urls:
        url = f"{base}{name}.gz"
        try:
            raw = fetch(url, gzip_limit(SIZES[name]), download_deadline(), desc=f"{name}.gz",
                        progress=progress)
            gzipped = raw[:2] == b"\x1f\x8b"
            data = gunzip(raw, SIZES[name], url) if gzipped else raw
            array = _verified_array(data, name, url)
        except (IDXError, MNISTError) as e:
            failures.append(f"  {e}")  # their messages start with the URL
            continue
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"  {url}: {getattr(e, 'reason', None) or e}")
            continue
        atomic_write(dest / f"{name}.gz", raw if gzipped else gzip.compress(raw, mtime=0))
        return array
    raise MNISTError(f"could not download {name} from any mirror:\n" + "\n".join(failures) +
                     "\nPass a folder holding the MNIST files with --data DIR or MNIST_DIR.")


def read_file(path: Path, name: str) -> np.ndarray:
    """A local copy of `name`, raw or gzip, checked; at most its known size is ever read."""
    try:
        return _verified_array(read_bytes(path, SIZES[name]), name, str(path))
    except IDXError as e:
        raise MNISTError(f"{e} (expected {name}, {SIZES[name]} bytes decompressed)") from e
    except OSError as e:
        raise MNISTError(f"cannot read {path}: {e.strerror or e}") from e


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True,
               progress: bool = True) -> MNIST:
    """The four MNIST arrays, from `data_dir`/MNIST_DIR, the cache, or the mirrors."""
    explicit = data_dir if data_dir is not None else os.environ.get("MNIST_DIR") or None
    arrays = {}
    if explicit is not None:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            raise MNISTError(f"MNIST folder {folder} does not exist")
        missing = [n for n in FILES if _find(folder, n) is None]
        if missing:
            raise MNISTError(f"MNIST folder {folder} lacks {', '.join(missing)} "
                             "(raw IDX or .gz)")
        source = str(folder)
    else:
        folder = cache_dir()
        source = f"cache {folder}"
    for name in FILES:
        path = _find(folder, name)
        if path is not None:
            arrays[name] = read_file(path, name)
        elif download:
            source = f"downloaded to {folder}"
            arrays[name] = download_file(name, folder, mirrors(), progress)
        else:
            raise MNISTError(f"{name} is not in {folder} and downloading is off")
    mnist = MNIST(arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"],
                  arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"], source)
    if len(mnist.train_images) != len(mnist.train_labels) or \
            len(mnist.test_images) != len(mnist.test_labels):
        raise MNISTError("MNIST image and label counts differ")
    return mnist
