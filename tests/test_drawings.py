"""Drawn digits: the set the classifiers learn from, and the held-out set their figures are
measured on (fixed, measured on the files, filled in for older zoos)."""

import json

import numpy as np
import pytest

import zoo
from tests.conftest import mnist_dir, requires_mnist
from tests.test_hub import make_zoo
from tests.test_train_cli import run
from zoo import drawings
from zoo.artifacts import load_variant
from zoo.manifest import ManifestError, validate_manifest
from zoo.report import results_table


def test_the_drawn_set_is_fixed_and_labelled():
    x, y = drawings.drawn_digits(4)
    drawings.drawn_digits.cache_clear()
    x2, y2 = drawings.drawn_digits(4)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert x.dtype == np.float32 and x.shape[1:] == (28, 28) and 0 <= x.min() <= x.max() <= 1
    assert len(y) <= 4 * len(drawings.HELD_OUT_STYLES) and set(y.tolist()) <= set(range(10))
    assert len(y) >= 3 * len(drawings.HELD_OUT_STYLES)  # the preprocessing passes nearly all


@requires_mnist
def test_the_training_drawings_are_redrawn_and_pen_stroke_digits_with_their_labels():
    from engine.data.mnist import load_mnist

    mnist = load_mnist(mnist_dir(), progress=False)
    images, labels = mnist.train_images[:500], mnist.train_labels[:500]
    x, y = drawings.training_drawings(images, labels, 40, seed=3)
    x2, y2 = drawings.training_drawings(images, labels, 40, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)  # one set for every architecture
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and 76 <= len(y) <= 80
    assert y.dtype == np.int64 and set(y.tolist()) <= set(range(10))
    # the redrawn half keeps each MNIST digit's own label, in the order picked
    pick = np.random.default_rng(3).choice(500, 40, replace=False)
    assert np.array_equal(y[:40], labels[pick]) or len(y) < 80
    model = zoo.open().load("cnn-c32c64-float32")  # a good reader agrees with the labels
    assert (model.predict_proba(x.astype(np.float32) / 255).argmax(1) == y).mean() >= 0.9


def test_missing_figures_are_measured_on_the_files_and_present_ones_kept(tmp_path):
    manifest = make_zoo(tmp_path)
    names = sorted(manifest["variants"])
    manifest["variants"][names[0]].update(drawn_set=drawings.DRAWN_SET, drawn_correct=1,
                                          drawn_images=2, drawn_accuracy=0.5)
    # figures on another set (a zoo from before the held-out faces) are measured again
    manifest["variants"][names[2]].update(drawn_correct=1, drawn_images=2, drawn_accuracy=0.5)

    def load(name):
        return load_variant(tmp_path, name, manifest["variants"][name]["files"])

    manifest["variants"][names[1]]["temperature"] = 1.5
    filled = drawings.missing_drawn_figures(manifest["variants"], load, per_style=3)
    assert set(filled) == set(names[1:])
    assert 0 <= filled[names[1]]["drawn_ece"] <= 1  # with a temperature, its calibration too
    x, y = drawings.drawn_digits(3)
    for name, e in filled.items():
        model = zoo.LocalZoo(tmp_path).load(name)
        correct = int((model.predict_proba(x).argmax(1) == y).sum())
        assert (e["drawn_correct"], e["drawn_images"]) == (correct, len(y))
        assert e["drawn_accuracy"] == correct / len(y)
        assert e["files"] == manifest["variants"][name]["files"]


def test_the_table_shows_the_figure_and_a_dash_without_it(tmp_path):
    manifest = make_zoo(tmp_path)
    a, b = sorted(manifest["variants"])[:2]
    manifest["variants"][a].update(drawn_correct=1, drawn_images=8, drawn_accuracy=0.125)
    rows = {line.split("`")[1]: line for line in results_table(manifest).splitlines()[2:]}
    assert "| 12.50% |" in rows[a] and "| 12.50% |" not in rows[b]
    assert rows[b].split(" | ")[-2] == "–"  # no figure, no number


@pytest.mark.parametrize("value", [1.5, -0.1, "97%", None])
def test_a_manifest_with_a_bad_drawn_figure_is_refused(tmp_path, value):
    manifest = make_zoo(tmp_path)
    next(iter(manifest["variants"].values()))["drawn_accuracy"] = value
    with pytest.raises(ManifestError, match="drawn_accuracy"):
        validate_manifest(manifest, "test")


@requires_mnist
def test_train_fills_the_figures_an_older_zoo_lacks(tmp_path):
    make_zoo(tmp_path)  # entries as a zoo from before drawn figures has them
    done = run("train.py", "--ensembles", "--quick", "--no-progress", "--data",
               str(mnist_dir()), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    after = json.loads((tmp_path / "manifest.json").read_text())
    validate_manifest(after, "after")
    assert all(e["drawn_images"] > 0 and 0 <= e["drawn_accuracy"] <= 1
               for e in after["variants"].values())
