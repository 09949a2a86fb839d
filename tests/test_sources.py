"""zoo.open: one interface to a local models folder or a Hub repo."""

import numpy as np
import pytest

import zoo
from tests.conftest import ROOT, WRITER
from tests.test_artifacts import write_zoo
from zoo.manifest import write_manifest


def test_the_shipped_zoo_and_a_folder_behind_one_interface(tmp_path):
    shipped = zoo.open()
    assert shipped.label == "the shipped zoo (models/)" and shipped.models_dir == ROOT / "models"
    assert "mlp-h128-int8" in shipped.names and shipped.names == sorted(shipped.names)
    write_zoo(tmp_path, ["cnn-c8c16-int8", "mlp-h32-int4"])
    local = zoo.open(tmp_path)
    assert local.names == ["cnn-c8c16-int8", "mlp-h32-int4"] and str(tmp_path) in local.label
    model = local.load("cnn-c8c16-int8")
    assert model.name == "cnn-c8c16-int8" and model.meta["family"] == "cnn"
    assert model.predict_proba(np.zeros((1, 28, 28), np.float32)).shape == (1, 10)


def test_what_is_neither_a_folder_nor_a_repo_is_refused(tmp_path):
    with pytest.raises(zoo.ManifestError, match="neither a models folder nor a Hub repo"):
        zoo.open("no such folder")
    with pytest.raises(ValueError, match="for Hub repos"):
        zoo.open(tmp_path, revision="main")


def test_an_entry_without_files_is_refused_not_loaded_unchecked(tmp_path):
    manifest = write_zoo(tmp_path, ["mlp-h32-int8"])
    del manifest["variants"]["mlp-h32-int8"]["files"]
    write_manifest(tmp_path, manifest)
    with pytest.raises(zoo.ManifestError, match="files"):
        zoo.open(tmp_path)


def test_a_hub_repo_behind_the_same_interface(hub):
    from zoo.hub import push

    push(ROOT / "models", "tester/open-zoo", token=WRITER)
    remote = zoo.open("tester/open-zoo")
    assert remote.names == zoo.open().names and "tester/open-zoo" in remote.label
    assert remote.load("mlp-h32-int8").name == "mlp-h32-int8"
