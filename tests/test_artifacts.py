import json

import numpy as np
import pytest

import zoo
from engine.training import to_input
from zoo.artifacts import ArtifactError, load_variant, save_variant
from zoo.manifest import ManifestError, read_manifest, write_manifest


def trained_like(name):
    """A randomly initialised float model stands in for a trained one: the bytes matter."""
    return zoo.get_variant(name).architecture.init()


def write_zoo(tmp_path, names):
    manifest = {"variants": {}}
    for name in names:
        files = save_variant(tmp_path, zoo.get_variant(name), trained_like(name))
        d = zoo.get_variant(name).describe()  # the fields the manifest's schema requires
        manifest["variants"][name] = {
            **{k: d[k] for k in ("name", "architecture", "precision", "bits", "experimental",
                                 "parent", "params")},
            "files": files, "bytes": sum(f["bytes"] for f in files.values()),
            "test_correct": 0, "test_accuracy": 0.0}
    write_manifest(tmp_path, manifest)
    return manifest


@pytest.mark.parametrize("arch", ["mlp-h64", "cnn-c8c16"])
@pytest.mark.parametrize("precision", ["float64", "float32", "int8", "int4"])
def test_round_trip_every_precision(tmp_path, arch, precision):
    name = f"{arch}-{precision}"
    model = trained_like(name)
    write_zoo(tmp_path, [name])
    loaded = zoo.load(name, models_dir=tmp_path)
    x = to_input(np.random.default_rng(0).integers(0, 256, (20, 28, 28)).astype(np.uint8))
    p_ref, p = model.predict_proba(x), loaded.predict_proba(x)
    tol = {"float64": 1e-6, "float32": 1e-6, "int8": 0.02, "int4": 0.15}[precision]
    assert np.abs(p - p_ref).max() <= tol
    assert loaded.dtype == ("float64" if precision == "float64" else "float32")
    first = loaded.parameters()[0]
    if precision == "int8":  # scales folded into the output, integer weights kept
        assert loaded.quantised and np.array_equal(first, np.rint(first))
    assert loaded.name == name and loaded.meta["precision"] == precision
    assert loaded.meta["family"] == name.split("-")[0]


def test_sizes_shrink_with_bits(tmp_path):
    m = write_zoo(tmp_path, [f"mlp-h128-{p}" for p in ("float64", "float32", "int8", "int4")])
    size = {n.rsplit("-", 1)[1]: sum(f["bytes"] for f in e["files"].values())
            for n, e in m["variants"].items()}
    assert size["int8"] <= 0.15 * size["float64"] and size["int4"] <= 0.09 * size["float64"]


def test_no_pickle_and_contiguous_layout(tmp_path):
    write_zoo(tmp_path, ["mlp-h32-float64"])
    raw = (tmp_path / "variants/mlp-h32-float64/model.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert header["layers.0.weight"]["shape"] == [784, 32]
    assert b"\x80\x04" not in raw[:16]  # not a pickle stream


def test_tampered_and_truncated_files_refused_others_usable(tmp_path):
    write_zoo(tmp_path, ["mlp-h32-int8", "mlp-h32-int4", "mlp-h32-float32"])
    weights = tmp_path / "variants/mlp-h32-int8/model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"mlp-h32-int8.*does not match the manifest"):
        zoo.load("mlp-h32-int8", models_dir=tmp_path)
    config = tmp_path / "variants/mlp-h32-int4/config.json"
    config.write_bytes(config.read_bytes()[:20])
    with pytest.raises(ArtifactError, match="modified or truncated"):
        zoo.load("mlp-h32-int4", models_dir=tmp_path)
    assert zoo.load("mlp-h32-float32", models_dir=tmp_path).sizes == [784, 32, 10]


def test_missing_file_and_unknown_entries(tmp_path):
    write_zoo(tmp_path, ["mlp-h32-int8"])
    (tmp_path / "variants/mlp-h32-int8/config.json").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        zoo.load("mlp-h32-int8", models_dir=tmp_path)
    with pytest.raises(ManifestError, match="no variant 'mlp-h64-int8'"):
        zoo.load("mlp-h64-int8", models_dir=tmp_path)
    with pytest.raises(ManifestError, match="train the zoo"):
        zoo.load("mlp-h32-int8", models_dir=tmp_path / "empty")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_wrong_shapes_in_an_unverified_file_are_reported(tmp_path):
    """Even with no manifest to compare against, a mismatched file is a clear error."""
    write_zoo(tmp_path, ["mlp-h32-int8", "mlp-h64-int8"])
    src = tmp_path / "variants/mlp-h64-int8/model.safetensors"
    dst = tmp_path / "variants/mlp-h32-int8/model.safetensors"
    dst.write_bytes(src.read_bytes())
    with pytest.raises(ArtifactError, match=r"weight_q.*expected int8\[784, 32\]"):
        load_variant(tmp_path, "mlp-h32-int8", None)


def test_writes_leave_no_temporary_files(tmp_path):
    write_zoo(tmp_path, ["mlp-h32-int4"])
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_first_format_config_is_an_mlp(tmp_path):
    """config.json from before families (format 1: `sizes`, no family) still loads."""
    name = "mlp-h32-int8"
    model = trained_like(name)
    write_zoo(tmp_path, [name])
    config = tmp_path / f"variants/{name}/config.json"
    old = {"format_version": 1, "name": name, "architecture": "mlp-h32",
           "precision": "int8", "sizes": [784, 32, 10], "precision_config": {}}
    config.write_text(json.dumps(old))
    loaded = load_variant(tmp_path, name, None)
    x = to_input(np.random.default_rng(1).integers(0, 256, (5, 28, 28)).astype(np.uint8))
    assert np.abs(loaded.predict_proba(x) - model.predict_proba(x)).max() < 0.02
    config.write_text(json.dumps({**old, "sizes": [784, 33, 10]}))
    with pytest.raises(ArtifactError, match="differs from the registered"):
        load_variant(tmp_path, name, None)


def test_a_variant_this_copy_does_not_register_loads_from_its_config(tmp_path):
    """A zoo (say, on the Hub) may hold architectures this checkout never registered."""
    from engine.training import Recipe
    from zoo.registry import PRECISIONS, Architecture, Variant

    arch = Architecture("cnn-elsewhere", "cnn", {"conv": [{"channels": 2, "kernel": 5}],
                                                 "dense": [7]}, Recipe(), 0, None)
    variant = Variant(arch, PRECISIONS["int4"])
    model = arch.init()
    files = save_variant(tmp_path, variant, model)
    loaded = load_variant(tmp_path, variant.name, files)
    x = np.random.default_rng(2).random((4, 28, 28)).astype(np.float32)
    assert loaded.name == "cnn-elsewhere-int4" and loaded.num_params == model.num_params
    assert np.abs(loaded.predict_proba(x) - model.predict_proba(x)).max() < 0.15


def test_a_loaded_variant_is_frozen_and_its_copy_is_not():
    """Loaded weights are read-only (what lets the one-image path keep derived layouts):
    writing to them fails, and a copy is an ordinary trainable model."""
    model = zoo.load("mlp-h512-float32")
    assert model.frozen
    with pytest.raises(ValueError, match="read-only"):
        model.layers[0].W[0, 0] = 0.0
    twin = model.copy()
    assert not twin.frozen and twin.name == model.name
    x = to_input(np.full((1, 28, 28), 200, np.uint8))
    np.testing.assert_allclose(model.predict_proba(x), twin.predict_proba(x), atol=1e-6)
