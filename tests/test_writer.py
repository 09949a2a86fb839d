"""A swap interrupted or killed at any rename keeps every variant the zoo listed before.

The zoo is a few shipped variants copied into a folder (no training): every mlp-h32
precision and the detector are replaced by newly initialised models, mlp-h64-float32 is
left alone. Every change the writer makes is a rename, so the states an interrupt or a kill
can leave are exactly the states between two renames; each is tried.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo.detector import VARIANT as DETECTOR_VARIANT
from zoo.manifest import (
    DETECTOR,
    MANIFEST,
    read_manifest,
    without_stale_ensembles,
    write_manifest,
)
from zoo.writer import STAGING, ZooWriter

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models"
RETRAINED = [f"mlp-h32-{p}" for p in ("float64", "float32", "int8", "int4", "int2")]
KEPT = "mlp-h64-float32"


def retrain(out: str | Path) -> dict:
    """Replace every mlp-h32 variant and the detector in `out` with untrained models."""
    with ZooWriter(out) as w:
        entries = {}
        for name in RETRAINED:
            v = zoo.get_variant(name)
            files = w.stage(v, v.architecture.init(seed=7))
            entries[name] = {**w.manifest["variants"][name], "files": files,
                             "bytes": sum(f["bytes"] for f in files.values())}
        files = w.stage(DETECTOR_VARIANT, DETECTOR_VARIANT.architecture.init(seed=7))
        return w.commit(entries, detector={**w.manifest[DETECTOR], "files": files})


def shipped(manifest):
    """{name: files} of every variant and the detector."""
    out = {n: e["files"] for n, e in manifest["variants"].items()}
    if DETECTOR in manifest:
        out[DETECTOR] = manifest[DETECTOR]["files"]
    return out


@pytest.fixture(scope="module")
def zoos(tmp_path_factory):
    """A zoo copied from the shipped one, and what retraining it gives: (folder, before,
    after, the renames a retrain makes)."""
    base = tmp_path_factory.mktemp("zoo") / "models"
    full = read_manifest(SHIPPED)
    names = [*RETRAINED, KEPT, full[DETECTOR]["name"]]
    for name in names:
        shutil.copytree(SHIPPED / "variants" / name, base / "variants" / name)
    write_manifest(base, without_stale_ensembles(
        {**full, "variants": {n: full["variants"][n] for n in names[:-1]}}))
    before = shipped(read_manifest(base))
    done = base.parent / "done"
    shutil.copytree(base, done)
    renames = []
    real = os.replace

    def counting(src, dst):
        renames.append(Path(dst).relative_to(done).as_posix())
        real(src, dst)

    os.replace = counting
    try:
        after = shipped(retrain(done))
    finally:
        os.replace = real
    assert all(after[n] != before[n] for n in [*RETRAINED, DETECTOR])
    assert after[KEPT] == before[KEPT]
    return base, before, after, renames


def assert_listed_are_loadable(folder, before, after):
    """Every variant listed loads, its files verified, and is wholly old or wholly new; the
    one not retrained is always listed. {name: files} of what is listed."""
    z = zoo.LocalZoo(folder)
    assert z.problems == {}
    listed = shipped(z.manifest)
    for name, files in listed.items():
        assert files in (before[name], after[name]), name
        model = z.load_detector() if name == DETECTOR else z.load(name)
        assert model.name == (z.manifest[DETECTOR]["name"] if name == DETECTOR else name)
    assert listed[KEPT] == before[KEPT]
    return listed


def assert_whole(folder, before, after):
    """Every variant listed before is listed and loads, and no swap is left half-done."""
    listed = assert_listed_are_loadable(folder, before, after)
    assert set(listed) == set(before)
    assert not (folder / STAGING).exists()
    assert not [p for p in folder.rglob("*.tmp")]
    return listed


def test_the_retrain_renames_old_files_aside_before_new_ones_arrive(zoos):
    _, _, _, renames = zoos
    aside = [r for r in renames if r.startswith(f"{STAGING}/old/variants/")]
    # Each changed file: the old one moved aside, then the new one moved in (config.json
    # files are the same bytes for a variant's new weights, so they stay).
    assert len(aside) == len(RETRAINED) + 1
    assert renames[-1] == MANIFEST


def position(renames, rel):
    """The 1-based number of the rename onto `rel`."""
    return renames.index(rel) + 1


# How a run is cut short at rename k: an exception just before it or just after it (the
# swap stops there, and close() finishes or undoes it), or SIGINT before it and before
# every rename after (Ctrl-C pressed again and again: the swap and close() hold it).
HOW = ["raise before", "raise after", "sigint"]


def cut_short(k, how):
    """os.replace, with the run cut short at rename k as `how` says."""
    real, calls = os.replace, 0

    def replace(src, dst):
        nonlocal calls
        calls += 1
        if how == "sigint" and calls >= k:
            os.kill(os.getpid(), signal.SIGINT)
        elif calls == k and how == "raise before":
            raise KeyboardInterrupt
        real(src, dst)
        if calls == k and how == "raise after":
            raise KeyboardInterrupt

    return replace


@pytest.fixture
def sigint_raises():
    """Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the tests run in a
    background job (started with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("how", HOW)
def test_an_interrupt_at_any_rename_keeps_every_variant(zoos, tmp_path, monkeypatch, how,
                                                        sigint_raises):
    """The folder is whole as soon as the run stops, before any other run opens it: new
    once the journal is written (old files moved aside or not), old before."""
    base, before, after, renames = zoos
    journal = position(renames, f"{STAGING}/{MANIFEST}")
    held = position(renames, f"{STAGING}/old/{MANIFEST}")  # SIGINT waits from here on
    real = os.replace
    for k in range(1, len(renames) + 1):
        out = tmp_path / f"k{k}"
        shutil.copytree(base, out)
        monkeypatch.setattr(os, "replace", cut_short(k, how))
        with pytest.raises(KeyboardInterrupt):
            retrain(out)
        monkeypatch.setattr(os, "replace", real)
        finished = {"raise before": k > journal, "raise after": k >= journal,
                    "sigint": k >= held}[how]
        assert assert_whole(out, before, after) == (after if finished else before), k
        with ZooWriter(out) as w:
            assert not w.recovered and not w.rolled_back
        assert shipped(read_manifest(out)) == (after if finished else before)


KILLER = """
import os, signal, sys
from tests.test_writer import retrain
out, k, count = sys.argv[1], int(sys.argv[2]), 0
real = os.replace
def replace(*args, **kwargs):
    global count
    count += 1
    if count == k:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
os.replace = replace
retrain(out)
"""


def killed_at(base, out, k):
    """`out`, a copy of `base` whose retrain was killed by SIGKILL just before rename k."""
    shutil.copytree(base, out)
    run = subprocess.run([sys.executable, "-c", KILLER, str(out), str(k)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == -signal.SIGKILL, run.stderr
    return out


def test_a_kill_at_any_rename_leaves_a_zoo_the_next_writer_makes_whole(zoos, tmp_path):
    """SIGKILL before each rename: what is listed meanwhile loads, and the next writer
    finishes the swap once it has begun (its journal written), else leaves the old zoo."""
    base, before, after, renames = zoos
    journal = renames.index(f"{STAGING}/{MANIFEST}") + 1
    for k in range(1, len(renames) + 1):
        out = killed_at(base, tmp_path / f"k{k}", k)
        assert_listed_are_loadable(out, before, after)
        with ZooWriter(out) as w:
            assert w.recovered == (k > journal) and not w.rolled_back
        assert assert_whole(out, before, after) == (after if k > journal else before), k


def test_a_swap_whose_new_files_are_damaged_is_rolled_back(zoos, tmp_path):
    """Killed with old files moved aside; then a staged file is damaged: rolling forward
    would list it, so the next writer puts the old files and the old manifest back."""
    base, before, after, renames = zoos
    aside = [i for i, r in enumerate(renames, 1) if r.startswith(f"{STAGING}/old/variants/")]
    out = killed_at(base, tmp_path / "models", aside[1] + 1)  # two aside, one moved in
    assert not (out / "variants" / "mlp-h32-float64" / "model.safetensors").exists()
    staged = out / STAGING / "variants" / "mlp-h32-int8" / "model.safetensors"
    staged.write_bytes(staged.read_bytes()[:-1])
    with ZooWriter(out) as w:
        assert w.rolled_back and not w.recovered
    assert assert_whole(out, before, after) == before
