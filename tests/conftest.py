"""Shared fixtures. MNIST comes from $MNIST_DIR (CI sets it to ../shared/data/mnist)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# huggingface_hub reads these when it is first imported (gradio imports it too), so they
# are set here, before any test module imports either: the real client then talks to the
# local Hub below, with a cache and token store of its own, never the user's.
HUB_PORT = free_port()
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="digit-zoo-hf-")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# Binary files then take the Hub's plain LFS path, which tests/hub_server.py implements;
# Xet needs Hugging Face's own storage servers, which no local Hub can stand in for.
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
for var in ("ZOO_REPO", "ZOO_REVISION", "ZOO_MODELS_DIR", "DIGIT_ZOO_PLUGINS"):
    os.environ.pop(var, None)

ROOT = Path(__file__).resolve().parent.parent
WRITER, READER = "hf_test_writer_token", "hf_test_reader_token"


def mnist_problem() -> str | None:
    """Why the tests cannot have real MNIST, or None: unset, mistyped and incomplete are
    different mistakes, and each skip says which."""
    from engine.data.mnist import FILES

    value = os.environ.get("MNIST_DIR")
    if not value:
        return ("needs real MNIST: set MNIST_DIR to a folder with the four IDX files "
                "(CI uses ../shared/data/mnist)")
    folder = Path(value)
    if not folder.is_dir():
        return f"MNIST_DIR is set to {value}, which is not a folder (a typo?)"
    missing = [n for n in FILES if not (folder / n).is_file()
               and not (folder / f"{n}.gz").is_file()]
    if missing:
        return f"MNIST_DIR={value} lacks {', '.join(missing)} (raw IDX or .gz)"
    return None


def mnist_dir() -> Path | None:
    return None if mnist_problem() else Path(os.environ["MNIST_DIR"])


# CI sets this: there a data test that skips is a failure, not a pass.
if os.environ.get("DIGIT_ZOO_REQUIRE_MNIST") and (problem := mnist_problem()):
    raise RuntimeError(f"DIGIT_ZOO_REQUIRE_MNIST is set but the tests cannot have MNIST: "
                       f"{problem}")

requires_mnist = pytest.mark.skipif(mnist_dir() is None, reason=str(mnist_problem()))


@pytest.fixture(scope="session")
def mnist():
    from engine.data.mnist import load_mnist

    d = mnist_dir()
    if d is None:
        pytest.skip(mnist_problem())
    return load_mnist(d, download=False, progress=False)


@pytest.fixture
def hub():
    """A local Hub on HF_ENDPOINT's port; user `tester` (token WRITER) and `other` (READER)."""
    from tests.hub_server import LocalHub

    server = LocalHub({WRITER: "tester", READER: "other"}, port=HUB_PORT).start()
    yield server
    server.stop()


def seven(size: int = 280, pen: int = 3, box: tuple = (60, 40, 200, 240)):
    """A black '7' drawn on white, inside box (x0, y0, x1, y1): a stand-in for a drawing."""
    import cv2
    import numpy as np

    img = np.full((size, size), 255, np.uint8)
    x0, y0, x1, y1 = box
    cv2.line(img, (x0, y0), (x1, y0), 0, pen, cv2.LINE_AA)
    cv2.line(img, (x1, y0), ((x0 + x1) // 2, y1), 0, pen, cv2.LINE_AA)
    return img


def click(size=280, centre=(140, 140)):
    """One click of the app's brush (Sketchpad default_size=12: a dot of 24 px on the
    280 px pad), on a canvas of `size` px showing the pad at that scale."""
    import cv2
    import numpy as np

    img = np.full((size, size), 255, np.uint8)
    s = size / 280
    cv2.circle(img, (round(centre[0] * s), round(centre[1] * s)), round(12 * s), 0, -1,
               cv2.LINE_AA)
    return img


def four(size=280, pen=10):
    """A black '4' of three strokes on white, like seven()."""
    import cv2
    import numpy as np

    img = np.full((size, size), 255, np.uint8)
    s = size / 280
    for a, b in (((150, 50), (80, 170)), ((80, 170), (200, 170)), ((160, 90), (160, 240))):
        cv2.line(img, tuple(round(v * s) for v in a), tuple(round(v * s) for v in b), 0,
                 round(pen * s), cv2.LINE_AA)
    return img
