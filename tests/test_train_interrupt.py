"""train.py killed at any moment leaves a zoo whose every listed variant verifies.

train.py runs for real, in a subprocess, retraining an architecture of an existing zoo.
Every change it makes to the folder is a rename (atomic_write's, or a staged file moved in),
so the states a kill can leave are exactly the states between two renames. One run copies
the folder before each rename and every copy is checked; a few more runs are killed with
SIGKILL, or SIGINT, just before a chosen rename.
"""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, mnist_dir, requires_mnist
from zoo.hub import check_complete
from zoo.manifest import read_manifest
from zoo.writer import STAGING, ZooWriter

pytestmark = requires_mnist

# Runs train.py as `python train.py` would, with os.replace watched: "snapshot" copies the
# models folder before every rename; "kill" sends SIGKILL ("sigint": SIGINT) before the n-th
# rename onto a file named NAME (AT="NAME:n").
WRAPPER = """
import collections, os, runpy, shutil, signal, sys
# As a terminal's python has it, even when this test runs in a background job (whose
# shell starts it with SIGINT ignored, and children inherit that).
signal.signal(signal.SIGINT, signal.default_int_handler)
mode, out = os.environ["MODE"], os.environ["OUT"]
target, _, nth = os.environ.get("AT", ":0").partition(":")
real, count, seen = os.replace, 0, collections.Counter()
def replace(src, dst, *a, **k):
    global count
    count += 1
    name = os.path.basename(dst)
    seen[name] += 1
    if mode in ("kill", "sigint") and name == target and seen[target] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL if mode == "kill" else signal.SIGINT)
    if mode == "snapshot":
        shutil.copytree(out, os.path.join(os.environ["SNAPSHOTS"], f"{count:03d}"))
    return real(src, dst, *a, **k)
os.replace = replace
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""
KEPT = "mlp-h64-float32"  # in the zoo, not retrained: must stay listed and intact throughout
RETRAINED = [f"mlp-h32-{p}" for p in ("float64", "float32", "int8", "int4")]


def train(out, seed, *, mode=None, at="", snapshots=None, variants="mlp-h32-*"):
    args = ["--quick", "--epochs", "1", "--no-progress", "--seed", str(seed), "--variants",
            variants, "--data", str(mnist_dir()), "--out", str(out)]
    if mode is None:
        cmd = [sys.executable, "train.py", *args]
    else:
        cmd = [sys.executable, "-c", WRAPPER, *args]
    env = {**os.environ, "MODE": mode or "", "AT": str(at), "OUT": str(out),
           "SNAPSHOTS": str(snapshots or "")}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def files_of(folder):
    return {n: e["files"] for n, e in read_manifest(folder)["variants"].items()}


def assert_intact(folder, kept_files):
    """Every variant the manifest lists verifies, and the one not retrained is untouched."""
    manifest = check_complete(folder)  # the manifest's schema, then every listed file's hash
    assert manifest["variants"][KEPT]["files"] == kept_files


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    """An existing zoo: mlp-h32 in every precision and mlp-h64-float32, quick-trained."""
    out = tmp_path_factory.mktemp("zoo") / "models"
    first = train(out, 1, variants=f"mlp-h32-*,{KEPT}")
    assert first.returncode == 0, first.stderr
    return out


def test_every_state_between_two_renames_is_a_working_zoo(zoo_dir, tmp_path):
    out = tmp_path / "models"
    shutil.copytree(zoo_dir, out)
    before = files_of(out)
    run = train(out, 2, mode="snapshot", snapshots=tmp_path / "snapshots")
    assert run.returncode == 0, run.stderr
    after = files_of(out)
    assert all(after[n] != before[n] for n in RETRAINED) and after[KEPT] == before[KEPT]
    states = sorted((tmp_path / "snapshots").iterdir())
    assert len(states) >= 9  # staged writes, the journal, the swap: each a rename
    recovered = []
    for state in states:
        assert_intact(state, before[KEPT])
        listed = files_of(state)
        for name in RETRAINED:  # a retrained variant is listed old, new or not at all
            assert name not in listed or listed[name] in (before[name], after[name]), state
        # What the next run finds: it cleans up, and finishes the swap once its journal is
        # written; before that the zoo is as it was.
        unfinished = files_of(state)
        with ZooWriter(state) as w:
            if w.recovered:
                recovered.append(state)
            assert files_of(state) == (after if w.recovered else before), state
        assert_intact(state, before[KEPT])
        assert not (state / STAGING).exists()
        assert not [p for p in state.rglob("*.tmp")]
        if state == states[-1]:
            # The last rename is the manifest's: before it the new entries are not listed,
            # and this is the state in which every file the journal lists is in place.
            assert unfinished != after and files_of(state) == after
    assert states[-1] in recovered


# Before: a staged file; the live manifest that unlists what changes (the first two renames
# onto manifest.json are the old manifest's copy and the journal, in the staging folder); a
# file moved in, its old one moved aside (5 staged, then aside and in per file); the new
# manifest. (Every other moment is covered by the snapshots above.)
KILLS = ["model.safetensors:2", "manifest.json:3", "model.safetensors:7", "manifest.json:4"]


def test_killed_runs_leave_a_working_zoo_and_the_next_run_cleans_up(zoo_dir, tmp_path):
    kept = files_of(zoo_dir)[KEPT]
    for i, at in enumerate(KILLS):
        out = tmp_path / f"models-{i}"
        shutil.copytree(zoo_dir, out)
        killed = train(out, 10 + i, mode="kill", at=at)
        assert killed.returncode == -9, (at, killed.stdout, killed.stderr)  # SIGKILL
        assert_intact(out, kept)
    # The next run into a killed folder removes what the kill left and trains as usual.
    out = tmp_path / "models-1"  # killed before the live manifest's rename: its temporary
    leftovers = [p for p in out.rglob("*.tmp") if STAGING not in p.parts]
    assert leftovers and (out / STAGING).exists()
    again = train(out, 20)
    assert again.returncode == 0, again.stderr
    assert f"removed {len(leftovers)} temporary file(s) interrupted runs left" in again.stdout
    assert_intact(out, kept)
    assert not list(out.rglob("*.tmp")) and not (out / STAGING).exists()
    assert set(RETRAINED) <= set(files_of(out))


def test_an_interrupted_retrain_finishes_its_swap_and_says_what_is_listed(zoo_dir, tmp_path):
    """Ctrl-C with a variant's old weights moved aside and its new ones not yet in: it
    waits for the swap to finish, and train.py's message is true."""
    out = tmp_path / "models"
    shutil.copytree(zoo_dir, out)
    before = files_of(out)
    run = train(out, 30, mode="sigint", at="model.safetensors:7")
    assert run.returncode == 130, (run.stdout, run.stderr)
    assert "the manifest lists every variant it listed before" in run.stderr
    assert_intact(out, before[KEPT])
    after = files_of(out)
    assert set(after) == set(before) and all(after[n] != before[n] for n in RETRAINED)
    assert not (out / STAGING).exists()
