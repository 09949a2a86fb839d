"""CI cannot pass on data tests it skipped; locally, each reason to skip is its own."""

import os
import shutil
import subprocess
import sys

from tests.conftest import ROOT, mnist_problem


def test_ci_fails_before_installing_anything_when_mnist_is_missing(tmp_path):
    clone = tmp_path / "clone"
    (clone / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", clone / ".ci" / "run")
    # A python3 that fails loudly: were the check not first, the venv step would call it.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\necho 'python3 was called' >&2\nexit 97\n")
    (fake / "python3").chmod(0o755)
    out = subprocess.run(["bash", str(clone / ".ci" / "run")], capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
                         timeout=60)
    assert out.returncode == 1, out.stderr
    assert "CI needs MNIST:" in out.stderr and "train-images-idx3-ubyte(.gz) is missing" in \
        out.stderr
    assert "python3 was called" not in out.stderr and not (clone / ".venv").exists()


def test_each_reason_to_skip_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    assert mnist_problem().startswith("needs real MNIST: set MNIST_DIR")
    monkeypatch.setenv("MNIST_DIR", "/typo/mnist")
    assert mnist_problem() == "MNIST_DIR is set to /typo/mnist, which is not a folder (a typo?)"
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    assert mnist_problem() == (f"MNIST_DIR={tmp_path} lacks train-images-idx3-ubyte, "
                               "train-labels-idx1-ubyte, t10k-images-idx3-ubyte (raw IDX or .gz)")


def test_required_mnist_turns_a_skip_into_a_failure():
    env = {**os.environ, "DIGIT_ZOO_REQUIRE_MNIST": "1", "MNIST_DIR": "/typo/mnist"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only",
                          "tests/test_idx.py"], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode != 0
    assert "DIGIT_ZOO_REQUIRE_MNIST is set but the tests cannot have MNIST: MNIST_DIR is set " \
           "to /typo/mnist" in out.stdout + out.stderr
