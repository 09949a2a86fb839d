"""Calibration: when a model says 90%, it should be right nine times in ten.

Networks trained with cross-entropy end up overconfident: their logits keep growing after
the labels are fitted. Temperature scaling (Guo et al. 2017) divides every logit by one
number T, fitted to minimise the negative log-likelihood on data the model did not train
on. Dividing by T > 0 never changes the argmax, so accuracy stays exactly what it was.
"""

from __future__ import annotations

import math

import numpy as np

from engine.functional import log_softmax, softmax

ECE_BINS = 15


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / T)."""
    logp = log_softmax(np.asarray(logits, np.float64) / temperature)
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05,
                    high: float = 20.0, tol: float = 1e-4) -> float:
    """The T in [low, high] that minimises the NLL, by golden-section search on log T.

    The NLL is convex in 1/T, so it has one minimum on the interval and a bracketing search
    finds it without gradients or a learning rate.
    """
    a, b = math.log(low), math.log(high)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence
    bins weighted by how many answers fall in each (the top class's probability)."""
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T)."""
    return softmax(np.asarray(logits) / temperature)


def report(held_logits: np.ndarray, held_labels: np.ndarray, test_logits: np.ndarray,
           test_labels: np.ndarray) -> dict:
    """The temperature fitted on held-out logits, and the expected calibration error on
    the test set before and after dividing the logits by it (as a manifest records them)."""
    t = round(fit_temperature(held_logits, held_labels), 4)
    return {"temperature": t, "calibration_images": len(held_labels),
            "ece_test": round(expected_calibration_error(calibrated(test_logits, 1.0),
                                                         test_labels), 5),
            "ece_test_calibrated": round(expected_calibration_error(
                calibrated(test_logits, t), test_labels), 5)}
