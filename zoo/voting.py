"""The zoo votes: an ensemble answers with the mean of its members' calibrated probabilities.

Averaging probabilities rather than logits lets members of any family and precision vote
on one scale, and calibrating each first (softmax(logits / T), T fitted on held-out
training images) keeps one overconfident member from outvoting the rest. No weights are
learnt: the average has nothing to fit, so nothing to overfit. An ensemble may also have
each member read a drawing several ways (engine.views: moved a pixel, turned 6 degrees)
and average those readings first.

    vote = zoo.open().load_ensemble("zoo-votes")
    vote.predict_proba(x)              # x: (N, 28, 28) floats in [0, 1]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from engine.calibration import expected_calibration_error
from engine.model import Model
from engine.training import to_input
from engine.views import AS_GIVEN, check_views, read
from zoo import drawings
from zoo.entries import ensemble_entry
from zoo.registry import Ensemble


def average(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The ensemble's probabilities: the members' calibrated probabilities, averaged."""
    if not probabilities:
        raise ValueError("an ensemble needs members")
    return np.mean(np.stack([np.asarray(p, np.float64) for p in probabilities]), axis=0)


class Vote:
    """A loaded ensemble: its member models, their temperatures and the views each reads."""

    def __init__(self, name: str, members: dict[str, Model], temperatures: dict[str, float],
                 views: Sequence[str] = (AS_GIVEN,)):
        self.name, self.members, self.temperatures = name, members, temperatures
        self.views = check_views(views)

    def member_probabilities(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's calibrated probabilities for the (N, 28, 28) images `x`, averaged
        over the ensemble's views."""
        return {n: read(m, x, self.temperatures[n], self.views) for n, m in self.members.items()}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return average(list(self.member_probabilities(x).values()))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=-1)


def _input(images: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 images as every model reads them; floats (already in [0, 1]) as they are."""
    return images.astype(dtype) if images.dtype.kind == "f" else to_input(images, dtype)


def calibrated_probabilities(readings: Iterable[tuple[str, tuple[str, ...]]], variants: dict,
                             load: Callable[[str], Model], *images: np.ndarray
                             ) -> dict[tuple[str, tuple[str, ...]], list[np.ndarray]]:
    """{(name, views): [its calibrated probabilities, averaged over the views, for each of
    `images` (uint8, or floats in [0, 1])]} for each reading asked for (`variants`, the
    manifest's entries; `load` gives a model): each variant loaded once and each reading
    run once."""
    readings = list(dict.fromkeys(readings))
    out = {}
    for name in dict.fromkeys(n for n, _ in readings):
        model = load(name)
        t = variants[name].get("temperature", 1.0)
        inputs = [_input(x, model.dtype) for x in images]
        for r in (r for r in readings if r[0] == name):
            out[r] = [read(model, x, t, r[1]) for x in inputs]
    return out


def vote(members: Sequence[str], views: Sequence[str], probabilities: dict,
         i: int = 0) -> np.ndarray:
    """The answer of `members` reading `views`, on the `i`th image set of
    `calibrated_probabilities`' result."""
    return average([probabilities[m, tuple(views)][i] for m in members])


def measure(ensembles: Sequence[Ensemble], variants: dict, load: Callable[[str], Model],
            held_out: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
            date: str, drawn: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, dict]:
    """Each ensemble's manifest entry: its members (`variants`, their manifest entries;
    `load` gives their models) voting on the held-out and the test images (uint8, with
    labels), and on `drawn` digits if given (zoo.drawings). Each member reads each set
    once in each of the views it is asked for, however many ensembles it is in."""
    sets = [held_out, test] + ([drawn] if drawn is not None else [])
    probs = calibrated_probabilities(((m, e.views) for e in ensembles for m in e.members),
                                     variants, load, *(x for x, _ in sets))
    out = {}
    for e in ensembles:
        p_held, p_test, *p_drawn = (vote(e.members, e.views, probs, i)
                                    for i in range(len(sets)))
        figures = drawings.fields(int((p_drawn[0].argmax(axis=1) == drawn[1]).sum()),
                                  len(drawn[1])) if p_drawn else None
        out[e.name] = ensemble_entry(
            e, variants, test_correct=int((p_test.argmax(axis=1) == test[1]).sum()),
            test_images=len(test[1]),
            validation_correct=int((p_held.argmax(axis=1) == held_out[1]).sum()),
            validation_images=len(held_out[1]),
            ece_test=expected_calibration_error(p_test, test[1]), date=date, drawn=figures)
    return out
