"""Where MNIST comes from: explicit folder, cache, or a download, always checksummed.

Downloads are tested against a real HTTP server on 127.0.0.1 serving the real files.
"""

import gzip
import http.server
import shutil
import threading
from functools import partial

import numpy as np
import pytest

from engine.data.idx import encode_idx
from engine.data.mnist import FILES, MNISTError, load_mnist
from tests.conftest import mnist_dir, requires_mnist

pytestmark = requires_mnist
SHARED = mnist_dir()  # read before the `env` fixture clears MNIST_DIR


@pytest.fixture
def serve(tmp_path):
    """Start an HTTP server on 127.0.0.1 for a folder; yields a function folder -> URL."""
    servers = []

    def start(folder):
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("DIGIT_ZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mnist"


def test_explicit_folder_and_env_var(monkeypatch, mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.test_labels.shape == (10000,)
    assert mnist.train_images.dtype == np.uint8 and set(np.unique(mnist.train_labels)) == \
        set(range(10))
    monkeypatch.setenv("MNIST_DIR", str(SHARED))
    assert load_mnist(progress=False).source == str(SHARED)


def test_missing_folder_and_files(tmp_path, env):
    with pytest.raises(MNISTError, match="does not exist"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(MNISTError, match="lacks train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_download_into_cache_then_reuse(serve, env, monkeypatch, tmp_path):
    dead = "http://127.0.0.1:9/"  # nothing listens there: the next mirror must be tried
    missing = serve(tmp_path / "empty_mirror")  # serves 404s
    (tmp_path / "empty_mirror").mkdir()
    monkeypatch.setenv("MNIST_MIRRORS", f"{dead},{missing},{serve(SHARED)}")
    m = load_mnist(progress=False)
    assert m.source.startswith("downloaded") and m.train_images.shape == (60000, 28, 28)
    assert sorted(p.name for p in env.iterdir()) == sorted(f"{n}.gz" for n in FILES)
    monkeypatch.setenv("MNIST_MIRRORS", dead)  # now the cache must suffice
    assert load_mnist(progress=False).source.startswith("cache")


def test_corrupt_download_is_refused_and_not_cached(serve, env, monkeypatch, tmp_path):
    bad = tmp_path / "bad_mirror"
    shutil.copytree(SHARED, bad)
    labels = gzip.decompress((bad / "t10k-labels-idx1-ubyte.gz").read_bytes())
    flipped = bytearray(labels)
    flipped[100] = (flipped[100] + 1) % 10  # a valid IDX file with one wrong label
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(flipped)))
    mirror = serve(bad)
    monkeypatch.setenv("MNIST_MIRRORS", mirror)
    with pytest.raises(MNISTError, match=r"t10k-labels-idx1-ubyte.*SHA-256") as e:
        load_mnist(progress=False)
    assert str(e.value).count(mirror.rstrip("/")) == 1, e.value  # the failure names it once
    assert not (env / "t10k-labels-idx1-ubyte.gz").exists()
    assert not [p for p in env.iterdir() if p.name.endswith(".tmp")]


def test_raw_copy_accepted_and_tampered_local_file_named(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(gzip.decompress((SHARED / f"{name}.gz").read_bytes()))
    assert load_mnist(folder, progress=False).test_images.shape == (10000, 28, 28)
    imgs = np.zeros((10000, 28, 28), np.uint8)
    (folder / "t10k-images-idx3-ubyte").write_bytes(encode_idx(imgs))
    with pytest.raises(MNISTError, match=r"raw/t10k-images-idx3-ubyte: SHA-256"):
        load_mnist(folder, progress=False)
