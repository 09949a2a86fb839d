"""Ensembles: registered like variants, measured by train.py into the manifest, dropped when
a member changes, loaded by the library and answered by the app as one more row."""

import copy
import json

import numpy as np
import pytest

import zoo
from engine.calibration import calibrated
from engine.model import logits
from engine.views import AS_GIVEN, VIEWS, read, view
from tests.conftest import mnist_dir, requires_mnist
from tests.test_hub import make_zoo
from tests.test_train_cli import run
from webapp.predictor import Predictor
from zoo.choosing import candidates, pick, readings
from zoo.entries import ensemble_entry
from zoo.manifest import (
    ENSEMBLES,
    ManifestError,
    check_manifest,
    validate_manifest,
    without_stale_ensembles,
    write_manifest,
)
from zoo.registry import ENSEMBLES as REGISTERED
from zoo.registry import Ensemble
from zoo.voting import average

PAIR = ("mlp-h32-float32", "mlp-h32-int8")


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr("zoo.registry.ENSEMBLES", dict(REGISTERED))
    import zoo.registry as r
    return r


@pytest.mark.parametrize("name, members, message", [
    ("solo", ["mlp-h32-int8"], "two or more distinct"),
    ("twice", ["mlp-h32-int8", "mlp-h32-int8"], "two or more distinct"),
    ("../up", list(PAIR), "ensemble name"),
    ("mlp-h32-mean", list(PAIR), "read as a variant's name"),
    ("pair", ["mlp-h32-int8", "bad/name"], "member name"),
])
def test_a_bad_registration_is_refused(registry, name, members, message):
    with pytest.raises(ValueError, match=message):
        registry.register_ensemble(name, members)
    with pytest.raises(ValueError, match="views must be"):
        registry.register_ensemble("pair", PAIR, views=["as-given", "sideways"])


def test_registering_is_idempotent_and_names_are_unique(registry):
    a = registry.register_ensemble("pair", PAIR, description="two")
    assert registry.register_ensemble("pair", PAIR, description="two") == a
    assert [e.name for e in registry.ensembles("pa*")] == ["pair"]
    with pytest.raises(ValueError, match="already registered differently"):
        registry.register_ensemble("pair", PAIR[::-1])


def test_the_vote_is_the_mean_of_calibrated_probabilities():
    a, b = np.array([[0.9, 0.1]]), np.array([[0.3, 0.7]])
    assert np.allclose(average([a, b]), [[0.6, 0.4]])
    with pytest.raises(ValueError):
        average([])


def zoo_with_ensemble(folder, **changes):
    """make_zoo's three variants, with temperatures, and an ensemble of two of them."""
    manifest = make_zoo(folder)
    for i, e in enumerate(manifest["variants"].values()):
        e["temperature"] = 0.5 + i
    e = ensemble_entry(Ensemble("pair", PAIR), manifest["variants"], test_correct=9100,
                       test_images=10000, validation_correct=4500, validation_images=5000,
                       ece_test=0.01, date="2026-12-06")
    manifest[ENSEMBLES] = {"pair": {**e, **changes}}
    write_manifest(folder, manifest)
    return manifest


def test_an_ensemble_loads_and_votes_with_each_members_temperature(tmp_path):
    manifest = zoo_with_ensemble(tmp_path)
    z = zoo.LocalZoo(tmp_path)
    assert list(z.ensembles) == ["pair"]
    vote = z.load_ensemble("pair")
    x = np.random.default_rng(0).random((5, 28, 28))
    want = np.mean([calibrated(logits(z.load(m), x), manifest["variants"][m]["temperature"])
                    for m in PAIR], axis=0)
    assert np.allclose(vote.predict_proba(x), want)
    assert (vote.predict(x) == want.argmax(1)).all()
    with pytest.raises(ManifestError, match="no ensemble 'trio'"):
        z.load_ensemble("trio")


@pytest.mark.parametrize("change, problem", [
    ({"members": ["mlp-h32-int8"]}, "two or more distinct"),
    ({"members": ["mlp-h32-int8", "mlp-h99-int8"]}, "not a usable variant"),
    ({"bytes": 12}, "sum of its members' sizes"),
    ({"test_accuracy": 1.5}, "test_accuracy"),
    ({"member_sha256": {}}, "measured on other files"),
    ({"name": "other"}, "not its key"),
    ({"ece_test": "low"}, "ece_test"),
    ({"drawn_accuracy": 2}, "drawn_accuracy"),
    ({"views": ["as-given", "sideways"]}, "views"),
    ({"views": ["up", "up"]}, "views"),
    ({"views": "up"}, "views"),
    ({"views": []}, "views"),
])
def test_a_bad_ensemble_entry_is_left_out_alone(tmp_path, change, problem):
    manifest = zoo_with_ensemble(tmp_path, **change)
    usable, problems = check_manifest(copy.deepcopy(manifest), "m")
    assert usable[ENSEMBLES] == {} and len(usable["variants"]) == 3
    assert problem in problems["pair"]
    with pytest.raises(ManifestError, match="ensemble 'pair'"):
        validate_manifest(manifest, "m")
    z = zoo.LocalZoo(tmp_path)  # the zoo still opens, and says why the ensemble is gone
    with pytest.raises(ManifestError, match=problem.split()[0]):
        z.load_ensemble("pair")


def test_an_ensemble_named_like_a_variant_is_refused(tmp_path):
    manifest = zoo_with_ensemble(tmp_path)
    e = {**manifest[ENSEMBLES]["pair"], "name": "mlp-h32-int4"}
    manifest[ENSEMBLES] = {"mlp-h32-int4": e}
    assert "name of a variant" in check_manifest(manifest, "m")[1]["mlp-h32-int4"]


def test_an_ensemble_goes_when_a_member_changes(tmp_path):
    manifest = zoo_with_ensemble(tmp_path)
    assert without_stale_ensembles(manifest) is manifest
    changed = copy.deepcopy(manifest)
    files = changed["variants"]["mlp-h32-int8"]["files"]
    next(iter(files.values()))["sha256"] = "0" * 64
    assert ENSEMBLES not in without_stale_ensembles(changed)
    gone = copy.deepcopy(manifest)
    del gone["variants"]["mlp-h32-float32"]
    assert ENSEMBLES not in without_stale_ensembles(gone)


def test_the_predictor_answers_an_ensemble_as_one_more_row(tmp_path):
    zoo_with_ensemble(tmp_path)
    p = Predictor(models_dir=tmp_path)
    drawing = np.zeros((280, 280), np.uint8)
    drawing[60:220, 130:150] = 255  # a 1
    result = p.predict(drawing, ["pair", "mlp-h32-int4"])
    assert result.status == "ok" and not result.errors
    # the members ran (once) but are not rows of their own
    assert set(result.probabilities) == {"pair", "mlp-h32-int4"}
    both = p.predict(drawing, [*PAIR, "pair"])
    assert np.allclose(both.calibrated["pair"],
                       np.mean([both.calibrated[m] for m in PAIR], axis=0))
    assert both.ms["pair"] == pytest.approx(sum(both.ms[m] for m in PAIR))
    # explained: the members' maps of the ensemble's answer, on their calibrated scale
    why = p.predict(drawing, [*PAIR, "pair"], explain=True)
    assert why.status == "ok"  # this zoo has no detector to refuse it
    from engine.explain import input_times_gradient
    digit = int(np.argmax(why.calibrated["pair"]))
    want = np.mean([input_times_gradient(p.model(m), why.image[None], digit)
                    / p.manifest["variants"][m]["temperature"] for m in PAIR], axis=0)
    assert np.allclose(why.saliency["pair"], want, atol=1e-6)
    # five names fit a zoo of three variants and one ensemble; six do not
    assert p.variant_names([*PAIR, "pair", "mlp-h32-int4"])
    with pytest.raises(ValueError, match="at most 4"):
        p.variant_names(["a", "b", "c", "d", "e"])


def test_an_ensemble_whose_member_cannot_load_says_which(tmp_path):
    zoo_with_ensemble(tmp_path)
    (tmp_path / "variants/mlp-h32-int8/model.safetensors").write_bytes(b"tampered")
    result = Predictor(models_dir=tmp_path).predict(np.eye(280, dtype=np.uint8) * 255,
                                                    ["pair", "mlp-h32-float32"])
    assert "its member mlp-h32-int8 has no answer" in result.errors["pair"]
    assert "mlp-h32-float32" in result.probabilities


PLUGIN = """
from zoo import registry
registry.register_ensemble("pair", ["mlp-h32-float32", "mlp-h32-int8"], description="two")
"""


@requires_mnist
def test_train_measures_registered_ensembles_and_a_retrain_measures_them_again(tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    out = tmp_path / "models"
    common = ["--quick", "--no-progress", "--data", str(mnist_dir()), "--out", str(out)]
    first = run("train.py", "--plugin", str(plugin), "--variants", ",".join(PAIR), *common)
    assert first.returncode == 0, first.stderr
    assert "ensemble zoo-votes: not measured" in first.stdout  # its members were not trained
    assert "| `pair` | `mlp-h32-float32` + `mlp-h32-int8` |" in first.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    e = manifest[ENSEMBLES]["pair"]
    v = manifest["variants"]
    assert e["members"] == list(PAIR) and e["description"] == "two"
    assert e["bytes"] == v[PAIR[0]]["bytes"] + v[PAIR[1]]["bytes"]
    # the figures are those of the files, voting as the library loads them
    from engine.data.mnist import load_mnist
    from engine.training import to_input
    mnist = load_mnist(mnist_dir(), progress=False)
    vote = zoo.LocalZoo(out).load_ensemble("pair")
    assert int((vote.predict(to_input(mnist.test_images)) == mnist.test_labels).sum()) \
        == e["test_correct"]
    from zoo.drawings import drawn_digits
    x, y = drawn_digits(10)  # a smoke run's drawn digits
    assert (e["drawn_correct"], e["drawn_images"]) == (int((vote.predict(x) == y).sum()), len(y))

    # a member trained again: the ensemble is measured on its new files
    again = run("train.py", "--plugin", str(plugin), "--variants", PAIR[1], "--seed", "3",
                *common)
    assert again.returncode == 0, again.stderr
    after = json.loads((out / "manifest.json").read_text())
    assert after["variants"][PAIR[1]]["files"] != v[PAIR[1]]["files"]
    assert after[ENSEMBLES]["pair"]["member_sha256"] != e["member_sha256"]
    validate_manifest(after, "after")

    # without the plugin the ensemble is kept while its members stay as measured, and
    # dropped, not left wrong, when one changes
    kept = run("train.py", "--ensembles", "--no-progress", "--data", str(mnist_dir()),
               "--out", str(out))
    assert kept.returncode == 0, kept.stderr
    assert "pair" in json.loads((out / "manifest.json").read_text())[ENSEMBLES]
    changed = run("train.py", "--variants", PAIR[0], "--seed", "4", *common)
    assert changed.returncode == 0, changed.stderr
    assert ENSEMBLES not in json.loads((out / "manifest.json").read_text())


def test_ensembles_flag_trains_nothing(tmp_path):
    bad = run("train.py", "--ensembles", "--variants", "mlp-h32-*", "--out", str(tmp_path))
    assert bad.returncode == 2 and "--ensembles trains nothing" in bad.stderr
    empty = run("train.py", "--ensembles", "--out", str(tmp_path / "none"), "--no-progress")
    assert empty.returncode == 0, empty.stderr
    assert "not measured" in empty.stdout and not (tmp_path / "none" / "manifest.json").exists()


def test_the_chart_shows_an_ensemble_at_its_members_bytes(tmp_path):
    from zoo.frontier import chart_points

    manifest = zoo_with_ensemble(tmp_path)
    rows = chart_points([*manifest["variants"].values(), manifest[ENSEMBLES]["pair"]])
    pair = next(r for r in rows if r["name"] == "pair")
    assert pair["kind"] == "digit-zoo ensemble"
    assert pair["KiB"] == manifest[ENSEMBLES]["pair"]["bytes"] / 1024


def entries(*archs):
    """Manifest-like entries of every precision of each (architecture, family, bytes)."""
    return {f"{a}-{p}": {"name": f"{a}-{p}", "architecture": a, "family": f,
                         "precision": p, "bytes": b}
            for a, f, b in archs for p in ("float32", "int8", "int2")}


def test_the_rule_ranks_architectures_on_held_out_accuracy():
    variants = entries(("c1", "cnn", 10), ("c2", "cnn", 20), ("c3", "cnn", 30),
                       ("m1", "mlp", 40), ("m2", "mlp", 50))
    held = {"c1-float32": 0.990, "c2-float32": 0.995, "c3-float32": 0.993,
            "m1-float32": 0.980, "m2-float32": 0.985}
    sets = candidates(variants, held)
    assert sets[:5] == [("c2-int8", "c3-int8"), ("c2-int8", "c3-int8", "c1-int8"),
                        ("c2-int8", "c3-int8", "m2-int8"),
                        ("c2-int8", "c3-int8", "c1-int8", "m2-int8"), ("c2-int8", "m2-int8")]
    assert sets[5:] == [tuple(n.replace("int8", "int2") for n in s) for s in sets[:5]]
    del variants["c1-int2"]  # a candidate needs every member shipped
    assert all("c1-int2" not in s for s in candidates(variants, held))
    cnns_only = {n: e for n, e in variants.items() if e["family"] == "cnn"}
    assert candidates(cnns_only, held)[:2] == sets[:2]  # no MLP: no set with one
    one_cnn = {n: e for n, e in variants.items() if e["architecture"] in ("c1", "m2")}
    assert candidates(one_cnn, held) == [("c1-int8", "m2-int8")]  # a vote needs two


def test_the_pick_is_the_best_held_out_reading_a_tie_to_the_smaller_then_fewer_views():
    variants = entries(("a", "cnn", 10), ("b", "cnn", 20), ("c", "cnn", 5))
    one, all_ = (AS_GIVEN,), VIEWS
    held = {(("a-int8", "b-int8"), one): 0.996, (("a-int8", "c-int8"), one): 0.996,
            (("a-int8", "c-int8"), all_): 0.996,
            (("a-int8", "b-int8", "c-int8"), one): 0.995, (("a-int2", "b-int2"), one): 0.99,
            (("b-int2", "c-int2"), one): 0.991}
    assert pick(held, variants) == {"int8": (("a-int8", "c-int8"), one),
                                    "int2": (("b-int2", "c-int2"), one)}
    held[(("a-int8", "b-int8", "c-int8"), all_)] = 0.997
    assert pick(held, variants)["int8"] == (("a-int8", "b-int8", "c-int8"), all_)
    # every candidate set is read both ways
    assert readings([("a-int8", "b-int8")]) == [(("a-int8", "b-int8"), one),
                                               (("a-int8", "b-int8"), all_)]


def test_an_ensemble_in_views_averages_each_members_views_then_the_members(tmp_path):
    manifest = zoo_with_ensemble(tmp_path, views=list(VIEWS))
    z = zoo.LocalZoo(tmp_path)
    vote = z.load_ensemble("pair")
    assert vote.views == VIEWS
    x = np.random.default_rng(1).random((3, 28, 28))
    temps = {m: manifest["variants"][m]["temperature"] for m in PAIR}
    per_member = [np.mean([calibrated(logits(z.load(m), view(x, v)), temps[m]) for v in VIEWS],
                          axis=0) for m in PAIR]
    assert np.allclose(vote.predict_proba(x), np.mean(per_member, axis=0))
    # many images go a view at a time, with the same answers
    many = np.random.default_rng(2).random((400, 28, 28))
    model = z.load(PAIR[0])
    assert np.allclose(read(model, many, 1.5, VIEWS)[:3], read(model, many[:3], 1.5, VIEWS))
    # the app's row is the library's vote
    drawing = np.zeros((280, 280), np.uint8)
    drawing[60:220, 130:150] = 255
    p = Predictor(models_dir=tmp_path)
    result = p.predict(drawing, ["pair"])
    assert result.status == "ok" and not result.errors
    assert np.allclose(result.calibrated["pair"], vote.predict_proba(result.image[None])[0])
    assert result.ms["pair"] > 0
    why = p.predict(drawing, ["pair"], explain=True)  # the map explains the drawing as given
    digit = int(np.argmax(why.calibrated["pair"]))
    from engine.explain import input_times_gradient
    want = np.mean([input_times_gradient(p.model(m), why.image[None], digit) / temps[m]
                    for m in PAIR], axis=0)
    assert np.allclose(why.saliency["pair"], want, atol=1e-6)


def test_an_ensemble_in_views_whose_member_cannot_load_says_which(tmp_path):
    zoo_with_ensemble(tmp_path, views=list(VIEWS))
    (tmp_path / "variants/mlp-h32-int8/model.safetensors").write_bytes(b"tampered")
    result = Predictor(models_dir=tmp_path).predict(np.eye(280, dtype=np.uint8) * 255,
                                                    ["pair", "mlp-h32-float32"])
    assert "its member mlp-h32-int8 has no answer" in result.errors["pair"]
    assert "pair" not in result.probabilities and "mlp-h32-float32" in result.probabilities
