"""What every bench script needs: MNIST, tables, and README output.

Each script prints Markdown; with `--readme README.md` it also rewrites its own block in the
README (between `<!-- bench:NAME:start -->` and `... :end -->`), with the command that made
it, so no figure in the README is typed by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

from engine.atomic import atomic_write
from zoo.report import markdown_table as table  # noqa: F401  (for the scripts)
from zoo.report import replace_block

ROOT = Path(__file__).resolve().parent.parent


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[1:]))
    p.add_argument("--data", help="MNIST folder (default: $MNIST_DIR, cache, download)")
    p.add_argument("--readme", type=Path, help="also rewrite this README's block")
    return p


def mnist(data: str | None = None):
    from engine.mnist import load_mnist

    return load_mnist(data or os.environ.get("MNIST_DIR") or None)


def machine() -> str:
    import numpy as np

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, NumPy {np.__version__}")


def emit(name: str, text: str, readme: Path | None) -> None:
    """Print `text`; with a README, put it in the `bench:name` block with its command."""
    print(text)
    if readme:
        args = list(sys.argv[1:])
        i = args.index("--readme") if "--readme" in args else None
        if i is not None:
            del args[i:i + 2]
        command = shlex.join(["python", f"bench/{Path(sys.argv[0]).name}", *args])
        block = f"{text}\n\n*Made by `MNIST_DIR=... {command}` on {machine()}.*"
        atomic_write(readme, replace_block(readme.read_text(), block, f"bench:{name}"))
        print(f"\nupdated the bench:{name} block of {readme}")
