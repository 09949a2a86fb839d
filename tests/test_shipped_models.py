"""The zoo in models/ is what its manifest says: same files, same bytes, same accuracy."""

import numpy as np
import pytest

import zoo
from engine.model import evaluate
from engine.training import to_input
from tests.conftest import ROOT, requires_mnist
from zoo.artifacts import sha256
from zoo.manifest import read_manifest
from zoo.report import END, START, results_table

MODELS = ROOT / "models"
MANIFEST = read_manifest(MODELS)
ENTRIES = MANIFEST["variants"]


def test_every_registered_variant_is_shipped_from_a_full_run():
    assert {v.name for v in zoo.variants()} <= set(ENTRIES)
    assert not [n for n, e in ENTRIES.items() if e["quick"]]


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_files_match_manifest(name):
    e = ENTRIES[name]
    for rel, info in e["files"].items():
        data = (MODELS / rel).read_bytes()
        assert len(data) == info["bytes"] and sha256(data) == info["sha256"], rel
    assert e["bytes"] == sum(f["bytes"] for f in e["files"].values())


@requires_mnist
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_reproduces_manifest_accuracy_exactly(name, mnist):
    model = zoo.load(name, models_dir=MODELS)
    correct = evaluate(model, to_input(mnist.test_images, model.dtype), mnist.test_labels)
    assert correct == ENTRIES[name]["test_correct"]


def by(precision):
    return {e["architecture"]: e for e in ENTRIES.values() if e["precision"] == precision}


def test_zoo_reaches_the_goals():
    """The goals of the issues that built the zoo, checked on the shipped figures."""
    floats = [e for e in ENTRIES.values() if e["precision"] in ("float32", "float64")]
    assert max(e["test_accuracy"] for e in floats) >= 0.988
    assert by("float32")["mlp-h128"]["test_accuracy"] >= 0.982
    f64 = by("float64")
    for arch, e in by("int8").items():
        assert e["delta_to_parent"] >= -0.10, arch
        if e["family"] == "mlp":  # a small CNN's int8 classifier is most of its bytes
            assert e["bytes"] <= 0.15 * f64[arch]["bytes"], arch
    for arch, e in by("int4").items():
        assert e["delta_to_parent"] >= (-0.40 if e["family"] == "mlp" else -0.30), arch
        if e["family"] == "mlp":
            assert e["bytes"] <= 0.09 * f64[arch]["bytes"], arch
    cnns = [e for e in floats if e["family"] == "cnn"]
    assert len({e["architecture"] for e in cnns}) >= 2
    assert max(e["test_accuracy"] for e in cnns) >= 0.995  # floor; the goal is 99.6%


def test_readme_table_is_the_manifest():
    readme = (ROOT / "README.md").read_text()
    block = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == results_table(MANIFEST), "run: python -m zoo.report --readme README.md"


def test_manifest_is_plain_json_numbers():
    for e in ENTRIES.values():
        assert isinstance(e["test_accuracy"], float) and isinstance(e["test_correct"], int)
        assert np.isclose(e["test_accuracy"], e["test_correct"] / MANIFEST["dataset"]
                          ["test_images"])
