"""Shared fixtures. MNIST comes from $MNIST_DIR (CI sets it to ../shared/data/mnist)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def mnist_dir() -> Path | None:
    d = os.environ.get("MNIST_DIR")
    return Path(d) if d and Path(d).is_dir() else None


requires_mnist = pytest.mark.skipif(
    mnist_dir() is None, reason="needs real MNIST: set MNIST_DIR to a folder with the IDX files "
                                "(CI uses ../shared/data/mnist)")


@pytest.fixture(scope="session")
def mnist():
    from engine.mnist import load_mnist

    d = mnist_dir()
    if d is None:
        pytest.skip("needs real MNIST: set MNIST_DIR (CI uses ../shared/data/mnist)")
    return load_mnist(d, download=False, progress=False)
