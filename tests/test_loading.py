"""Loading fails alone, fast and by name: hostile files, paths and configs in a models folder.

Each broken variant is hash-consistent (its manifest entry records the broken bytes), so
what refuses it is the loader's own checks, not the hash. Whatever the breakage, the error
is an ArtifactError or ManifestError naming the variant and the file, and the Predictor
answers with the other variants.
"""

import json
import os
import shutil
import struct
import threading

import numpy as np
import pytest

import zoo
from tests.test_app import SEVEN
from tests.test_artifacts import trained_like, write_zoo
from webapp.predictor import Predictor
from zoo.artifacts import ArtifactError, load_variant, save_variant, sha256, variant_files
from zoo.manifest import ManifestError, read_manifest, write_manifest
from zoo.sources import LocalZoo

GOOD, OTHER = "mlp-h32-float32", "mlp-h32-int8"


@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "models"
    write_zoo(folder, [GOOD, OTHER, "mlp-h32-int4"])
    return folder


def record(folder, name, entry_from=GOOD):
    """List `name`'s files in the manifest as they are now on disk (a tampering the hash
    check cannot see), with the other fields copied from `entry_from`'s entry."""
    m = read_manifest(folder)
    files = {}
    for rel in variant_files(name):
        data = (folder / rel).read_bytes()
        files[rel] = {"bytes": len(data), "sha256": sha256(data)}
    m["variants"][name] = {**m["variants"][entry_from], "name": name, "files": files,
                           "bytes": sum(f["bytes"] for f in files.values())}
    write_manifest(folder, m)


def plant(folder, name, weights: bytes, config: bytes | dict):
    d = folder / "variants" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.safetensors").write_bytes(weights)
    (d / "config.json").write_bytes(config if isinstance(config, bytes)
                                    else json.dumps(config).encode())
    record(folder, name)


def good_files(folder, name=GOOD):
    d = folder / "variants" / name
    return (d / "model.safetensors").read_bytes(), json.loads((d / "config.json").read_bytes())


def refused(folder, name, *fragments):
    """`name` fails to load with an ArtifactError naming it, through zoo.load and through
    the Predictor (which still answers with GOOD)."""
    with pytest.raises(ArtifactError) as e:
        zoo.load(name, models_dir=folder)
    message = str(e.value)
    assert message.startswith(f"{name}: "), message
    for fragment in fragments:
        assert fragment in message, message
    r = Predictor(models_dir=folder, load_wait=30).predict(SEVEN, [GOOD, name])
    assert r.status == "ok" and r.probabilities[GOOD] and set(r.errors) == {name}
    assert r.errors[name] == message
    return message


# --- one lock per variant, failures remembered -------------------------------------------
class SlowZoo(LocalZoo):
    """A local zoo whose `slow` variant takes until the test releases it (a Hub download)."""

    def __init__(self, folder, slow):
        super().__init__(folder)
        self.slow, self.started, self.release = slow, threading.Event(), threading.Event()
        self.loads: list[str] = []

    def load(self, name):
        self.loads.append(name)
        if name == self.slow:
            self.started.set()
            assert self.release.wait(60)
        return super().load(name)


def test_a_slow_first_load_holds_up_only_those_who_want_it(models):
    p = Predictor(models_dir=models)
    p.zoo = slow = SlowZoo(models, OTHER)
    assert p.predict(SEVEN, [GOOD]).probabilities[GOOD]  # loaded before the slow one starts
    first: dict = {}
    waiting = threading.Thread(target=lambda: first.update(r=p.predict(SEVEN, [OTHER])))
    waiting.start()
    assert slow.started.wait(30)
    # While OTHER is still loading, a prediction with the loaded variant is answered...
    r = p.predict(SEVEN, [GOOD])
    assert r.status == "ok" and r.probabilities[GOOD] and waiting.is_alive()
    # ...and one that wants OTHER waits at most load_wait, then answers without it.
    p.load_wait = 0.05
    r = p.predict(SEVEN, [GOOD, OTHER])
    assert r.probabilities[GOOD] and "still loading" in r.errors[OTHER]
    slow.release.set()
    waiting.join(30)
    assert first["r"].probabilities[OTHER]
    assert slow.loads.count(OTHER) == 1  # two requests wanted it: it loaded once


def test_a_failed_load_is_remembered_with_its_reason(models):
    weights = models / "variants" / OTHER / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    p = Predictor(models_dir=models)
    p.zoo = counting = SlowZoo(models, None)
    first = p.predict(SEVEN, [GOOD, OTHER]).errors[OTHER]
    assert "does not match the manifest" in first
    weights.write_bytes(original)  # mended: but a server does not re-read it per request
    for _ in range(3):
        assert p.predict(SEVEN, [GOOD, OTHER]).errors[OTHER] == first
    assert counting.loads.count(OTHER) == 1
    assert Predictor(models_dir=models).predict(SEVEN, [OTHER]).probabilities[OTHER]


def test_names_not_in_the_zoo_are_not_remembered(models):
    p = Predictor(models_dir=models)
    for i in range(50):
        assert "no variant" in p.predict(SEVEN, [f"nope-{i}"]).errors[f"nope-{i}"]
    assert len(p._loads) == 0  # a request's names cannot grow the server's memory


class FlakyZoo(SlowZoo):
    """A Hub zoo's failure, without a Hub: the first load of OTHER finds it unreachable."""

    def load(self, name):
        from zoo.hub import HubUnreachableError

        if name == OTHER and OTHER not in self.loads:
            self.loads.append(name)
            raise HubUnreachableError("cannot reach the Hub for tester/zoo@main: refused")
        return super().load(name)


def test_an_unreachable_hub_is_asked_again_later_not_per_request(models, monkeypatch):
    from webapp import predictor

    p = Predictor(models_dir=models)
    p.zoo = flaky = FlakyZoo(models, None)
    for _ in range(3):  # within a minute: the remembered failure, not a new attempt
        assert "cannot reach the Hub" in p.predict(SEVEN, [OTHER]).errors[OTHER]
    assert flaky.loads.count(OTHER) == 1
    monkeypatch.setattr(predictor, "RETRY_AFTER", 0.0)  # due again at once
    p = Predictor(models_dir=models)
    p.zoo = flaky = FlakyZoo(models, None)
    assert "cannot reach the Hub" in p.predict(SEVEN, [OTHER]).errors[OTHER]
    assert p.predict(SEVEN, [OTHER]).probabilities[OTHER]
    assert flaky.loads.count(OTHER) == 2


# --- sizes, headers, paths ---------------------------------------------------------------
def test_sizes_are_checked_with_stat_before_reading(models):
    weights = models / "variants" / OTHER / "model.safetensors"
    os.truncate(weights, 64 << 30)  # a sparse 64 GiB file: reading it would exhaust memory
    refused(models, OTHER, f"variants/{OTHER}/model.safetensors is 68719476736 bytes, "
                           "expected")


def test_a_manifest_cannot_make_a_loader_read_a_huge_file(models):
    m = read_manifest(models)
    entry = m["variants"][OTHER]
    rel = variant_files(OTHER)[0]
    entry["files"][rel]["bytes"] = 64 << 30
    write_manifest(models, m)
    os.truncate(models / rel, 64 << 30)
    z = LocalZoo(models)
    assert OTHER not in z.names and "more than the 268435456 allowed" in z.problems[OTHER]
    with pytest.raises(ManifestError, match="more than the 268435456 allowed"):
        z.load(OTHER)


def test_a_huge_safetensors_header_is_refused(models):
    header = b"{" + b" " * ((2 << 20) - 2) + b"}"  # valid JSON, 2 MiB of it
    _, config = good_files(models, OTHER)
    plant(models, OTHER, struct.pack("<Q", len(header)) + header, config)
    refused(models, OTHER, f"cannot decode variants/{OTHER}/model.safetensors",
            "header declares 2097152 bytes")


def test_variant_names_cannot_leave_the_models_folder(models, tmp_path):
    (tmp_path / "x").mkdir()
    m = read_manifest(models)
    m["variants"]["../../x"] = {**m["variants"][GOOD], "name": "../../x"}
    (models / "manifest.json").write_text(json.dumps(m))
    z = LocalZoo(models)
    assert "../../x" not in z.names and "is not a valid variant name" in z.problems["../../x"]
    with pytest.raises(ArtifactError, match="is not a valid variant name"):
        load_variant(models, "../../x", None)
    r = Predictor(models_dir=models).predict(SEVEN, [GOOD, "../../x"])
    assert "is not a valid variant name" in r.errors["../../x"] and r.probabilities[GOOD]


def test_symlinks_out_of_the_models_folder_are_refused(models, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    # A file moved out and linked back: the same bytes, so only the path check can refuse.
    weights = models / "variants" / OTHER / "model.safetensors"
    shutil.move(weights, outside / "model.safetensors")
    weights.symlink_to(outside / "model.safetensors")
    refused(models, OTHER, "leads outside the models folder")
    # A whole variant folder linked from outside.
    folder = models / "variants" / "mlp-h32-int4"
    shutil.move(folder, outside / "mlp-h32-int4")
    folder.symlink_to(outside / "mlp-h32-int4", target_is_directory=True)
    refused(models, "mlp-h32-int4", "leads outside the models folder")
    # A link that stays inside is fine.
    config = models / "variants" / GOOD / "config.json"
    shutil.move(config, models / "shared-config.json")
    config.symlink_to(models / "shared-config.json")
    assert zoo.load(GOOD, models_dir=models).name == GOOD


def test_a_manifest_symlinked_from_outside_the_models_folder_is_refused(models, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    manifest = models / "manifest.json"
    shutil.move(manifest, outside / "manifest.json")
    manifest.symlink_to(outside / "manifest.json")
    for read in (read_manifest, LocalZoo):
        with pytest.raises(ManifestError) as e:
            read(models)
        assert str(e.value) == (f"{manifest} leads outside the models folder (to "
                                f"{(outside / 'manifest.json').resolve()}); refused")
    # A link that stays inside is fine, and so is a models folder that is itself a link.
    manifest.unlink()
    shutil.move(outside / "manifest.json", models / "manifest-1.json")
    manifest.symlink_to(models / "manifest-1.json")
    assert LocalZoo(models).names == sorted([GOOD, OTHER, "mlp-h32-int4"])
    (tmp_path / "linked").symlink_to(models, target_is_directory=True)
    assert LocalZoo(tmp_path / "linked").load(GOOD).name == GOOD


def test_a_fifo_is_refused_without_blocking(models):
    weights = models / "variants" / OTHER / "model.safetensors"
    weights.unlink()
    os.mkfifo(weights)  # opening it to read would wait for a writer that never comes
    message = refused(models, OTHER, "is not a regular file")
    assert "still loading" not in message


# --- what the files hold ---------------------------------------------------------------
def broken_model(change):
    model = trained_like(OTHER.replace("int8", "float32"))
    change(model)
    return model


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.layers[0].W.__setitem__((0, 0), np.nan), "'layers.0.weight' holds NaN"),
    (lambda m: m.layers[1].b.__setitem__(3, np.inf), "'layers.1.bias' holds NaN or infinite"),
    # Finite, but logits overflow to inf: the probabilities would be NaN (not even JSON).
    (lambda m: [layer.W.__imul__(np.float32(1e25)) for layer in m.layers],
     "non-finite or misshaped probabilities"),
])
def test_weights_that_give_nan_are_refused(models, change, message):
    files = save_variant(models, zoo.get_variant(GOOD), broken_model(change))
    assert files
    record(models, GOOD)
    with pytest.raises(ArtifactError, match=f"^{GOOD}: cannot decode variants/{GOOD}/model"):
        zoo.load(GOOD, models_dir=models)
    with pytest.raises(ArtifactError, match=message):
        zoo.load(GOOD, models_dir=models)


def test_int8_scales_that_are_nan_are_refused(models):
    from safetensors.numpy import load, save

    weights, config = good_files(models, OTHER)
    tensors = load(weights)
    tensors["layers.0.weight_scale"][5] = np.nan
    plant(models, OTHER, save(tensors, metadata={"digit-zoo": OTHER}), config)
    refused(models, OTHER, "'layers.0.weight_scale' holds NaN")


def int4_config(models, **change):
    _, config = good_files(models, "mlp-h32-int4")
    return {**config, "precision_config": {**config["precision_config"], **change}}


HOSTILE_CONFIGS = {
    "not an object": lambda models: b"[1, 2]",
    "not JSON": lambda models: b"{'name': 1}",
    "nested 100,000 deep": lambda models: b"[" * 100_000 + b"]" * 100_000,
    "a 5,000-digit number": lambda models: b'{"format_version": ' + b"9" * 5000 + b"}",
    "no family": lambda models: json.dumps(
        {k: v for k, v in good_files(models, "mlp-h32-int4")[1].items() if k != "family"}
    ).encode(),
    "int4 group_size 0": lambda models: int4_config(models, group_size=0),
    "int4 group_size true": lambda models: int4_config(models, group_size=True),
    "int4 output_bits 4": lambda models: int4_config(models, output_bits=4),
    "int4 output_bits 'abc'": lambda models: int4_config(models, output_bits="abc"),
    "int4 output_bits null": lambda models: int4_config(models, output_bits=None),
    "int4 output_bits 8.0": lambda models: int4_config(models, output_bits=8.0),
    "unknown precision": lambda models: {**good_files(models, "mlp-h32-int4")[1],
                                         "precision": "float8"},
    "a newer format": lambda models: {**good_files(models, "mlp-h32-int4")[1],
                                      "format_version": 99},
}


@pytest.mark.parametrize("case", HOSTILE_CONFIGS)
def test_a_hostile_config_is_a_named_error(models, case):
    name = "mlp-h32-int4"
    weights, _ = good_files(models, name)
    plant(models, name, weights, HOSTILE_CONFIGS[case](models))
    message = refused(models, name, f"cannot decode variants/{name}/")
    assert "Traceback" not in message and len(message) < 500
    if "output_bits" in case:
        assert "precision_config output_bits must be 8 (what int4 writes), not " in message


def test_an_architecture_too_big_to_decode_is_refused_before_decoding(models):
    """A variant this checkout does not register is built from its config: a config that
    asks for billions of parameters is refused before anything is allocated."""
    name = "mlp-huge-float32"
    weights, config = good_files(models)
    plant(models, name, weights, {**config, "name": name, "architecture": "mlp-huge",
                                  "model_config": {"sizes": [784, 100_000, 100_000, 10]}})
    refused(models, name, "10079600010 parameters, more than the 16777216")


def test_an_entry_without_files_is_never_loaded_unchecked(models):
    m = read_manifest(models)
    del m["variants"][OTHER]["files"]
    (models / "manifest.json").write_text(json.dumps(m))
    r = Predictor(models_dir=models).predict(SEVEN, [GOOD, OTHER])
    assert "field 'files' must be a non-empty object" in r.errors[OTHER]
    assert r.probabilities[GOOD]
    with pytest.raises(ArtifactError, match="lists no hash for"):
        from zoo.artifacts import load_files

        load_files(OTHER, {}, lambda rel, expected: b"")
