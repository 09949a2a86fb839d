"""What every bench script needs: the repo on sys.path, MNIST, and a table printer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def mnist(data: str | None = None):
    from engine.mnist import load_mnist

    return load_mnist(data or os.environ.get("MNIST_DIR") or None)


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table, so the output can go into the README as it is."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
