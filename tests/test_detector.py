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
from zoo.detector import (
    ARCHITECTURE,
    DRAWN_BUDGET,
    GENERATORS,
    MNIST_BUDGET,
    VARIANT,
    drawn_positives,
    manifest_section,
    non_digits,
    threshold_for,
)
from zoo.manifest import (
    DETECTOR,
    ManifestError,
    check_manifest,
    read_manifest,
    validate_manifest,
    write_manifest,
)
from zoo.registry import Architecture, Variant
from zoo.sources import LocalZoo

NAME = "mlp-h32-int8"


def detector_saying(p_not_digit: float, classes: int = 11) -> CNN:
    """A detector that answers P(not a digit) = p for every drawing (its classifier's
    weights zeroed, the bias set): its last class, after the others' equal shares."""
    model = init_model(CNN, {**ARCHITECTURE.config, "classes": classes}, 0, "float32")
    state = model.state_dict()
    w, b = state[f"{model.classifier}.weight"], state[f"{model.classifier}.bias"]
    w[...] = 0
    b[...] = 0.0
    b[-1] = np.log((classes - 1) * p_not_digit / (1 - p_not_digit))
    return model


def zoo_with_detector(folder, p_not_digit=0.9, threshold=0.5, classes=11):
    manifest = write_zoo(folder, [NAME])
    arch = Architecture(VARIANT.architecture.name, "cnn", {**ARCHITECTURE.config,
                        "classes": classes}, ARCHITECTURE.recipe, 0, ("float32",))
    files = save_variant(folder, Variant(arch, VARIANT.precision),
                         detector_saying(p_not_digit, classes))
    manifest[DETECTOR] = {**manifest_section(files, {"threshold": threshold}),
                          "model_config": arch.config}
    write_manifest(folder, manifest)
    return folder


@pytest.mark.parametrize("p,threshold,status", [(0.9, 0.5, "not_a_digit"), (0.3, 0.5, "ok"),
                                                (0.9, 0.95, "ok")])
@pytest.mark.parametrize("classes", [11, 2])  # a two-class detector is what zoos before shipped
def test_predict_says_not_a_digit_above_the_threshold(tmp_path, p, threshold, status, classes):
    predictor = Predictor(models_dir=zoo_with_detector(tmp_path, p, threshold, classes))
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
    assert np.exp(model.forward(x))[0, -1] / np.exp(model.forward(x))[0].sum() == \
        pytest.approx(0.8, abs=1e-5)
    assert read_manifest(folder)[DETECTOR]["bytes"] == sum(
        f["bytes"] for f in read_manifest(folder)[DETECTOR]["files"].values())


def test_threshold_keeps_false_alarms_within_the_budgets():
    rng = np.random.default_rng(0)
    p_mnist, p_drawn = rng.random(10000) ** 8, rng.random(2000) ** 4
    t = threshold_for(p_mnist, p_drawn)
    assert (p_mnist > t).mean() <= MNIST_BUDGET and (p_drawn > t).mean() <= DRAWN_BUDGET
    assert (p_drawn > t).mean() > 0.6 * DRAWN_BUDGET  # the binding budget is used, not wasted
    # Each source of drawn digits keeps its own budget: easy stroke digits beside hard
    # redrawn ones would otherwise lend the hard ones their share.
    p_easy = rng.random(2000) ** 40
    t2 = threshold_for(p_mnist, p_drawn, p_easy)
    assert t2 == t and (p_drawn > t2).mean() <= DRAWN_BUDGET
    pooled = threshold_for(p_mnist, np.concatenate([p_drawn, p_easy]))
    assert (np.concatenate([p_drawn, p_easy]) > pooled).mean() <= DRAWN_BUDGET
    assert (p_drawn > pooled).mean() > DRAWN_BUDGET
    looser = threshold_for(p_mnist, p_drawn, drawn_budget=2 * DRAWN_BUDGET)
    assert looser < t and (p_drawn > looser).mean() <= 2 * DRAWN_BUDGET


def test_explain_gives_each_variant_a_map_and_the_steps(tmp_path):
    predictor = Predictor(models_dir=zoo_with_detector(tmp_path, 0.1))
    plain = predictor.predict(SEVEN, [NAME])
    assert plain.saliency == {} and plain.stages is None
    why = predictor.predict(SEVEN, [NAME], explain=True)
    assert why.probabilities == plain.probabilities
    m = why.saliency[NAME]
    assert m.shape == (28, 28) and np.all(m[why.image == 0] == 0) and np.abs(m).sum() > 0
    assert list(why.stages)[-1] == "centred"


def test_a_detector_that_answers_neither_11_nor_2_classes_is_refused(tmp_path):
    """Ten classes is a digit classifier, not a detector: it has no "not a digit"."""
    answer = Predictor(models_dir=zoo_with_detector(tmp_path, 0.9, classes=10)).predict(
        SEVEN, [NAME])
    assert answer.status == "ok" and answer.not_a_digit is None
    assert "must answer 11 classes" in answer.unchecked


def test_a_variant_that_fails_to_answer_costs_only_its_row(tmp_path, monkeypatch):
    predictor = Predictor(models_dir=zoo_with_detector(tmp_path, 0.1))
    model = predictor.model(NAME)
    monkeypatch.setattr(model, "input_gradient", lambda *a, **k: 1 / 0)
    answer = predictor.predict(SEVEN, [NAME], explain=True)
    assert "could not answer (ZeroDivisionError" in answer.errors[NAME]
    assert answer.status == "ok" and NAME not in answer.probabilities
    assert predictor.predict(SEVEN, [NAME]).probabilities[NAME]  # without explain it answers


def test_the_negatives_take_turns_among_every_generator():
    """Eleven generators, each called in turn with the one random stream: the same seed
    draws the same, and each turn is the generator it names."""
    from engine.data import nondigits, strokes

    assert GENERATORS == (*(("font", k) for k in nondigits.KINDS),
                          *(("stroke", k) for k in strokes.NONDIGIT_KINDS))
    made = list(non_digits(len(GENERATORS) + 2, seed=5))
    assert len(made) == len(GENERATORS) + 2
    assert all(np.array_equal(a, b) for a, b in zip(made, non_digits(len(made), seed=5)))
    for source, kind in GENERATORS:
        one = next(non_digits(1, seed=5, generators=((source, kind),)))
        rng = np.random.default_rng(5)
        direct = (nondigits.MAKERS[kind](rng, None) if source == "font"
                  else strokes.nondigit(rng, kind))
        assert np.array_equal(one, direct), (source, kind)


def test_drawn_positives_are_redrawn_and_stroke_digits_with_their_labels():
    images = np.zeros((6, 28, 28), np.uint8)
    images[:, 6:22, 13:15] = 255  # a bar: a 1
    x, y = drawn_positives(images, np.ones(6, np.int64), 6, seed=3)
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and len(x) == len(y) > 6
    assert (y[:6] == 1).all() and set(y[6:]) <= set(range(10)) and len(set(y[6:])) > 1
