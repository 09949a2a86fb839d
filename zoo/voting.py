"""The zoo votes: an ensemble answers with the mean of its members' calibrated probabilities.

Averaging probabilities rather than logits lets members of any family and precision vote
on one scale, and calibrating each first (softmax(logits / T), T fitted on held-out
training images) keeps one overconfident member from outvoting the rest. No weights are
learnt: the average has nothing to fit, so nothing to overfit.

    vote = zoo.open().load_ensemble("zoo-votes")
    vote.predict_proba(x)              # x: (N, 28, 28) floats in [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.calibration import calibrated
from engine.model import Model, logits


def average(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The ensemble's probabilities: the members' calibrated probabilities, averaged."""
    if not probabilities:
        raise ValueError("an ensemble needs members")
    return np.mean(np.stack([np.asarray(p, np.float64) for p in probabilities]), axis=0)


class Vote:
    """A loaded ensemble: its member models and their temperatures, run as one model."""

    def __init__(self, name: str, members: dict[str, Model], temperatures: dict[str, float]):
        self.name, self.members, self.temperatures = name, members, temperatures

    def member_probabilities(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's calibrated probabilities for the (N, 28, 28) images `x`."""
        return {n: calibrated(logits(m, x), self.temperatures[n])
                for n, m in self.members.items()}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return average(list(self.member_probabilities(x).values()))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=-1)
