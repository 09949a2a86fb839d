"""Where MNIST comes from, checked before it is used.

In order: an explicit folder (argument, or the MNIST_DIR environment variable), else the
user cache (~/.cache/digit-zoo/mnist, or $DIGIT_ZOO_CACHE/mnist), else a download from
public mirrors (MNIST_MIRRORS overrides the list) into that cache. Every file, wherever it
comes from, must match the SHA-256 of the canonical *decompressed* payload: a raw copy or
any gzip of it is accepted, anything else is refused by name. Training on bad data
silently is the failure this module exists to prevent.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from engine.atomic import atomic_write
from engine.idx import IDXError, parse_idx, read_bytes

FILES = {  # name -> SHA-256 of the decompressed payload
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
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
    env = os.environ.get("MNIST_MIRRORS", "").replace(",", " ").split()
    return [m if m.endswith("/") else m + "/" for m in (env or DEFAULT_MIRRORS)]


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


def _download(name: str, dest: Path, urls: list[str], progress: bool) -> np.ndarray:
    failures = []
    for base in urls:
        url = f"{base}{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                size = int(response.headers.get("Content-Length") or 0) or None
                buf = io.BytesIO()
                with tqdm(total=size, unit="B", unit_scale=True, desc=f"{name}.gz",
                          disable=not progress, leave=False) as bar:
                    while chunk := response.read(1 << 16):
                        buf.write(chunk)
                        bar.update(len(chunk))
            raw = buf.getvalue()
            data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            array = _verified_array(data, name, url)
        except (urllib.error.URLError, OSError, EOFError, IDXError, MNISTError) as e:
            failures.append(f"  {url}: {getattr(e, 'reason', None) or e}")
            continue
        atomic_write(dest / f"{name}.gz", raw if data is not raw else gzip.compress(raw, mtime=0))
        return array
    raise MNISTError(f"could not download {name} from any mirror:\n" + "\n".join(failures) +
                     "\nPass a folder holding the MNIST files with --data DIR or MNIST_DIR.")


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
            arrays[name] = _verified_array(read_bytes(path), name, str(path))
        elif download:
            source = f"downloaded to {folder}"
            arrays[name] = _download(name, folder, mirrors(), progress)
        else:
            raise MNISTError(f"{name} is not in {folder} and downloading is off")
    mnist = MNIST(arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"],
                  arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"], source)
    if len(mnist.train_images) != len(mnist.train_labels) or \
            len(mnist.test_images) != len(mnist.test_labels):
        raise MNISTError("MNIST image and label counts differ")
    return mnist
