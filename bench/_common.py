"""What every bench script needs: MNIST, tables, output into the docs, and fair timing.

Each script prints Markdown; with `--doc docs/benchmarks.md` (where every block lives) it
also rewrites its own block in that file (between `<!-- bench:NAME:start -->` and
`... :end -->`), with the command that made it, that file included, so no figure in the docs
is typed by hand. `--readme PATH` is the old name of the same option. Speed blocks also
record this machine's NumPy sgemm rate, measured in the same run, so a reader can tell a
slow machine (or a busy one: the rate is taken before and after the timed part) from a slow
engine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from engine.atomic import atomic_write
from zoo.report import markdown_table as table  # noqa: F401  (for the scripts)
from zoo.report import replace_block

ROOT = Path(__file__).resolve().parent.parent
DOC = "docs/benchmarks.md"  # where every bench block lives


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[1:]))
    p.add_argument("--data", help="MNIST folder (default: $MNIST_DIR, cache, download)")
    p.add_argument("--doc", "--readme", dest="doc", type=Path, metavar="PATH",
                   help=f"also rewrite this script's block in PATH ({DOC})")
    return p


def shipped_cnns() -> list[str]:
    """Every registered CNN architecture, one per network (a second seed of the same
    network trains at the same speed)."""
    import zoo.registry

    seen, out = [], []
    for name, arch in zoo.registry.ARCHITECTURES.items():
        if arch.model_class.family == "cnn" and arch.config not in seen:
            seen.append(arch.config)
            out.append(name)
    return out


def mnist(data: str | None = None):
    from engine.data.mnist import load_mnist

    return load_mnist(data or os.environ.get("MNIST_DIR") or None)


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, NumPy {np.__version__}")


def emit(name: str, text: str, doc: Path | None, sgemm: str | None = None) -> None:
    """Print `text`; with a doc file, put it in its `bench:name` block with its command.

    `sgemm` (from `sgemm_note`) goes last, beside the figures it puts in scale.
    """
    if sgemm:
        text = f"{text}\n\n{sgemm}"
    print(text)
    if doc:
        block = f"{text}\n\n*Made by `MNIST_DIR=... {command(sys.argv, doc)}` on {machine()}.*"
        atomic_write(doc, replace_block(doc.read_text(), block, f"bench:{name}"))
        print(f"\nupdated the bench:{name} block of {doc}")


def command(argv: Sequence[str], doc: Path) -> str:
    """The command line that rewrites this block, naming the file the block lives in."""
    args, rest = [], list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg in ("--doc", "--readme"):
            rest = rest[1:]
        elif not arg.startswith(("--doc=", "--readme=")):
            args.append(arg)
    return shlex.join(["python", f"bench/{Path(argv[0]).name}", *args, "--doc", _shown(doc)])


def _shown(path: Path) -> str:
    """`path` as the docs show it: relative to the repository when it lies inside it."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


SGEMM_N, SGEMM_REPEATS = 2048, 5


def matmul_gflops(dtype: str = "float32", threads: int | None = None, n: int = SGEMM_N,
                  repeats: int = SGEMM_REPEATS) -> float:
    """GFLOP/s of NumPy's n x n by n x n product, best of `repeats`, at `threads` BLAS threads.

    The most this machine's BLAS does: the yardstick the engine's figures are put against.
    """
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((n, n)).astype(dtype)
    b = np.random.default_rng(1).random((n, n)).astype(dtype)
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def sgemm_rates(threads: Iterable[int]) -> dict[int, float]:
    """float32 matmul GFLOP/s at each thread count."""
    return {t: matmul_gflops("float32", t) for t in threads}


def sgemm_note(before: dict[int, float], after: dict[int, float]) -> str:
    """The line a speed block ends with: sgemm before and after its timed part."""
    rates = "; ".join(f"at {t} thread{'s' if t > 1 else ''}: {before[t]:.1f} GFLOP/s before the "
                      f"timed part, {after[t]:.1f} after" for t in before)
    return (f"This machine's NumPy sgemm ({SGEMM_N}x{SGEMM_N} float32, best of "
            f"{SGEMM_REPEATS}, measured in this run) {rates}.")


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


T = TypeVar("T")


def take_turns(fns: dict[str, Callable[[], T]], rounds: int, pause: float) -> dict[str, list[T]]:
    """Each function's result in each of `rounds` rounds, the functions taking turns.

    A B C A B C ...: any drift in the machine's speed then falls on every side alike, so
    ratios hold when absolute figures move. A warm-up round goes first and is dropped.
    Before each timed turn, `pause` seconds let the idle worker threads of the library
    just used go to sleep: OpenBLAS's spin for about 0.1 s, and a spinning thread would
    take the core the next library needs.
    """
    out: dict[str, list[T]] = {k: [] for k in fns}
    for r in range(rounds + 1):
        for k, fn in fns.items():
            if r:
                time.sleep(pause)
            value = fn()
            if r:
                out[k].append(value)
    return out


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """'median (min–max)' of per-round figures: the range says how far the median holds."""
    mid = fmt.format(statistics.median(values))
    if len(values) < 2:
        return mid
    return f"{mid} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def ratio_spread(num: Sequence[float], den: Sequence[float]) -> str:
    """The ratio of the medians (bold) and the range of the round-by-round ratios."""
    mid = f"**{statistics.median(num) / statistics.median(den):.2f}x**"
    if len(num) < 2:
        return mid
    each = [a / b for a, b in zip(num, den, strict=True)]
    return f"{mid} ({min(each):.2f}–{max(each):.2f})"
