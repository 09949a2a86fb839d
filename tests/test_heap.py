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


def fresh(script: str, *args: str) -> list[str]:
    """What `script` prints in a fresh interpreter, word by word."""
    return subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True).stdout.split()


def faults(mode: str) -> tuple[str, int]:
    out = fresh(STEPS, mode)
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


WIRED = textwrap.dedent("""
    import numpy as np
    from engine import heap
    from engine.mlp import MLP
    from engine.training import Recipe, init_model, train
    import zoo
    zoo.load("cnn-c8c16-float32").predict_proba(np.zeros((100, 784), np.float32))
    before = heap._kept  # loading and reading models, as the app does, leaves it alone
    model = init_model(MLP, {"sizes": [784, 8, 10]}, 0, "float32")
    images = np.zeros((32, 28, 28), np.uint8)
    train(model, images, np.arange(32) % 10, Recipe(epochs=1, augment=None), progress=False)
    print(before, heap._kept)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_training_asks_for_it_and_nothing_else_does():
    assert fresh(WIRED) == ["None", "True"]
