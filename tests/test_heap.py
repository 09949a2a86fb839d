"""engine/heap.py: a training process reuses freed memory instead of faulting it in again.

Each case runs in a fresh interpreter: the setting is the process's for good."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Allocates, fills and frees a 64 MB array as a training step does with its patches
# (above glibc's largest adaptive mmap threshold, 32 MB), then counts the minor page
# faults the next five such steps take.
STEPS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from engine import heap
    kept = heap.keep_freed_memory() if sys.argv[1] == "keep" else None
    def step():
        a = np.empty(16 * 2**20, np.float32)
        a.fill(1.0)
        del a
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", STEPS, mode], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_is_reused_rather_than_faulted_in_again():
    kept, with_heap = faults("keep")
    _, without = faults("default")
    assert kept == "True"
    # 64 MB is 32 transparent huge pages (NumPy asks for them) or 16,384 small ones a
    # step, given back each time
    assert without >= 5 * 32
    assert with_heap < without / 20


def test_keeping_is_asked_once_and_answers_the_same():
    from engine import heap

    assert heap.keep_freed_memory() is heap.keep_freed_memory()
