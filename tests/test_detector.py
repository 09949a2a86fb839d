"""The not-a-digit detector: stored like a variant, checked like one, and what /predict says
because of it. (Its measured rates on real drawings: test_shipped_models.py.)"""

import json

import numpy as np
import pytest

from engine.cnn import CNN
from engine.training import init_model
from tests.test_app import SEVEN
from tests.test_artifacts import write_zoo
from webapp import answers
from webapp.predictor import UNCHECKED, Predictor
from zoo.artifacts import save_variant
from zoo.detector import ARCHITECTURE, VARIANT, manifest_section, threshold_for
from zoo.manifest import (
    DETECTOR,
    ManifestError,
    check_manifest,
    read_manifest,
    validate_manifest,
    write_manifest,
)
from zoo.sources import LocalZoo

NAME = "mlp-h32-int8"


def detector_saying(p_not_digit: float) -> CNN:
    """A detector that answers P(not a digit) = p for every drawing (its classifier's
    weights zeroed, the bias set)."""
    model = init_model(CNN, ARCHITECTURE.config, 0, "float32")
    state = model.state_dict()
    w, b = state[f"{model.classifier}.weight"], state[f"{model.classifier}.bias"]
    w[...] = 0
    b[...] = [0.0, float(np.log(p_not_digit / (1 - p_not_digit)))]
    return model


def zoo_with_detector(folder, p_not_digit=0.9, threshold=0.5):
    manifest = write_zoo(folder, [NAME])
    files = save_variant(folder, VARIANT, detector_saying(p_not_digit))
    manifest[DETECTOR] = manifest_section(files, {"threshold": threshold})
    write_manifest(folder, manifest)
    return folder


@pytest.mark.parametrize("p,threshold,status", [(0.9, 0.5, "not_a_digit"), (0.3, 0.5, "ok"),
                                                (0.9, 0.95, "ok")])
def test_predict_says_not_a_digit_above_the_threshold(tmp_path, p, threshold, status):
    predictor = Predictor(models_dir=zoo_with_detector(tmp_path, p, threshold))
    answer = predictor.predict(SEVEN, [NAME]).to_json()
    assert answer["status"] == status
    assert answer["not_a_digit"] == pytest.approx(p, abs=1e-5)
    # every variant's reading is kept, under a name no client takes for an answer when the
    # drawing was refused
    readings = answer["if_a_digit"] if status == "not_a_digit" else answer
    assert NAME in readings["probabilities"] and NAME in readings["top"]
    assert (answer["top"] == {}) == (status == "not_a_digit")
    assert ("not look like one digit" in answer["message"]) == (status == "not_a_digit")
    assert predictor.notice == "" and predictor.predict(SEVEN, [NAME]).unchecked == ""


def test_blank_keeps_its_own_hint(tmp_path):
    predictor = Predictor(models_dir=zoo_with_detector(tmp_path, 0.99))
    answer = predictor.predict(np.full((280, 280), 255, np.uint8), [NAME]).to_json()
    assert answer["status"] == "blank" and answer["not_a_digit"] is None


def test_a_tampered_detector_is_refused_and_the_zoo_still_answers(tmp_path):
    folder = zoo_with_detector(tmp_path, 0.99)
    weights = folder / f"variants/{VARIANT.name}/model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    predictor = Predictor(models_dir=folder)
    result = predictor.predict(SEVEN, [NAME])
    assert result.status == "ok" and result.not_a_digit is None
    # The load fails in its thread, after the page was built: each answer says so.
    assert predictor.notice == ""
    assert result.unchecked.startswith(f"{UNCHECKED}: ") and VARIANT.name in result.unchecked
    assert "modified or truncated" in result.unchecked
    assert result.unchecked in answers.table(result, [NAME], {})


def test_a_zoo_without_a_detector_says_drawings_go_unchecked(tmp_path):
    write_zoo(tmp_path, [NAME])
    predictor = Predictor(models_dir=tmp_path)
    reason = f"{UNCHECKED}: local {tmp_path} lists no not-a-digit detector"
    assert predictor.notice == reason
    result = predictor.predict(SEVEN, [NAME])
    assert result.status == "ok" and result.not_a_digit is None and result.unchecked == reason
    assert reason in answers.table(result, [NAME], {})
    assert predictor.predict(np.full((280, 280), 255, np.uint8), [NAME]).unchecked == ""


def test_a_malformed_detector_entry_costs_only_the_detector(tmp_path):
    folder = zoo_with_detector(tmp_path)
    m = json.loads((folder / "manifest.json").read_text())
    m[DETECTOR]["threshold"] = "high"
    (folder / "manifest.json").write_text(json.dumps(m))
    usable, problems = check_manifest(m, "here")
    assert DETECTOR not in usable and "threshold" in problems[DETECTOR]
    with pytest.raises(ManifestError, match="threshold"):
        validate_manifest(m, "here")  # writers refuse it
    predictor = Predictor(models_dir=folder)
    assert "not checked for being digits" in predictor.notice
    result = predictor.predict(SEVEN, [NAME])
    assert result.status == "ok" and "threshold" in result.unchecked
    with pytest.raises(ManifestError, match="threshold"):
        LocalZoo(folder).load_detector()


def test_the_detector_is_read_back_hash_checked(tmp_path):
    folder = zoo_with_detector(tmp_path, 0.8)
    model = LocalZoo(folder).load_detector()
    assert model.name == VARIANT.name
    x = np.zeros((1, 28, 28), np.float32)
    assert np.exp(model.forward(x))[0, 1] / np.exp(model.forward(x))[0].sum() == \
        pytest.approx(0.8, abs=1e-5)
    assert read_manifest(folder)[DETECTOR]["bytes"] == sum(
        f["bytes"] for f in read_manifest(folder)[DETECTOR]["files"].values())


def test_threshold_keeps_false_alarms_within_the_budgets():
    rng = np.random.default_rng(0)
    p_mnist, p_drawn = rng.random(10000) ** 8, rng.random(2000) ** 4
    t = threshold_for(p_mnist, p_drawn)
    assert (p_mnist > t).mean() <= 0.0025 and (p_drawn > t).mean() <= 0.005
    assert (p_drawn > t).mean() > 0.003  # the binding budget is used, not wasted


def test_explain_gives_each_variant_a_map_and_the_steps(tmp_path):
    predictor = Predictor(models_dir=zoo_with_detector(tmp_path, 0.1))
    plain = predictor.predict(SEVEN, [NAME])
    assert plain.saliency == {} and plain.stages is None
    why = predictor.predict(SEVEN, [NAME], explain=True)
    assert why.probabilities == plain.probabilities
    m = why.saliency[NAME]
    assert m.shape == (28, 28) and np.all(m[why.image == 0] == 0) and np.abs(m).sum() > 0
    assert list(why.stages)[-1] == "centred"


def test_a_detector_that_does_not_answer_two_classes_is_refused(tmp_path):
    manifest = write_zoo(tmp_path, [NAME])
    ten = init_model(CNN, {**ARCHITECTURE.config, "classes": 10}, 0, "float32")
    from zoo.registry import Architecture, Variant

    arch = Architecture(VARIANT.architecture.name, "cnn", {**ARCHITECTURE.config, "classes": 10},
                        ARCHITECTURE.recipe, 0, ("float32",))
    files = save_variant(tmp_path, Variant(arch, VARIANT.precision), ten)
    manifest[DETECTOR] = manifest_section(files, {"threshold": 0.5})
    write_manifest(tmp_path, manifest)
    answer = Predictor(models_dir=tmp_path).predict(SEVEN, [NAME])
    assert answer.status == "ok" and answer.not_a_digit is None
    assert "must answer 2 classes" in answer.unchecked


def test_a_variant_that_fails_to_answer_costs_only_its_row(tmp_path, monkeypatch):
    predictor = Predictor(models_dir=zoo_with_detector(tmp_path, 0.1))
    model = predictor.model(NAME)
    monkeypatch.setattr(model, "input_gradient", lambda *a, **k: 1 / 0)
    answer = predictor.predict(SEVEN, [NAME], explain=True)
    assert "could not answer (ZeroDivisionError" in answer.errors[NAME]
    assert answer.status == "ok" and NAME not in answer.probabilities
    assert predictor.predict(SEVEN, [NAME]).probabilities[NAME]  # without explain it answers
