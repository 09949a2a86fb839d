import numpy as np
import pytest

from engine.calibration import calibrated, expected_calibration_error, fit_temperature, nll


def synthetic(n=20000, true_t=2.5, seed=0):
    """Labels drawn from softmax(z / true_t): a model whose logits z are true_t too sharp."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=4.0, size=(n, 10))
    p = calibrated(z, true_t)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return z, labels


def test_recovers_the_temperature_that_generated_the_labels():
    z, y = synthetic()
    t = fit_temperature(z, y)
    assert t == pytest.approx(2.5, rel=0.05)
    assert nll(z, y, t) < nll(z, y, 1.0)
    before = expected_calibration_error(calibrated(z, 1.0), y)
    after = expected_calibration_error(calibrated(z, t), y)
    assert before > 0.1 and after < 0.015


def test_temperature_never_changes_the_answer():
    z, _ = synthetic(1000)
    assert np.array_equal(calibrated(z, 3.7).argmax(1), z.argmax(1))


def test_ece_of_hand_made_cases():
    # always right at confidence 1: perfectly calibrated
    p = np.eye(10)[[1, 2, 3]]
    assert expected_calibration_error(p, np.array([1, 2, 3])) == 0.0
    # confidence 0.9, right half the time: a gap of 0.4
    p = np.full((4, 10), 0.1 / 9)
    p[:, 0] = 0.9
    assert expected_calibration_error(p, np.array([0, 0, 1, 1])) == pytest.approx(0.4)
