"""Which variants vote: the rule that picks the zoo's ensembles, on held-out images only.

Candidates are built by rule, not searched: a search over every subset would fit the 5,000
held-out images it is judged on. The architectures are ranked by their float32 variant's
accuracy on the held-out training images; the candidates are the best two, three and four
CNNs, the best two and three with the best MLP (another family's mistakes) and the best CNN
with the MLP, each in int8 (as accurate as float at a quarter of the bytes) and in 2 bits.
In each precision the pick is the candidate most accurate on the held-out images, a tie
(one image is 0.02 points) going to the smaller set. The test set never chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from engine.model import Model
from zoo import voting

PRECISIONS = ("int8", "int2")


def candidates(variants: dict, held_accuracy: dict[str, float]) -> list[tuple[str, ...]]:
    """The candidate member sets (variant names) that `variants` (the manifest's entries)
    holds, from `held_accuracy`: {float32 variant: its accuracy on the held-out images}."""
    ranked = sorted((e for e in variants.values() if e["name"] in held_accuracy),
                    key=lambda e: -held_accuracy[e["name"]])
    cnns = [e["architecture"] for e in ranked if e.get("family") == "cnn"]
    mlp = [e["architecture"] for e in ranked if e.get("family") == "mlp"][:1]
    sets = [cnns[:2], cnns[:3], cnns[:4], cnns[:2] + mlp, cnns[:3] + mlp, cnns[:1] + mlp]
    out = [tuple(f"{a}-{p}" for a in archs) for p in PRECISIONS for archs in sets]
    return [names for names in dict.fromkeys(out)
            if len(names) >= 2 and all(n in variants for n in names)]


def pick(held_accuracy: dict[tuple[str, ...], float], variants: dict
         ) -> dict[str, tuple[str, ...]]:
    """{precision: the set most accurate on the held-out images (`held_accuracy`, by member
    set), a tie to the one of fewer bytes}."""
    def key(names: tuple[str, ...]) -> tuple[float, int]:
        return held_accuracy[names], -sum(variants[n]["bytes"] for n in names)
    return {p: max(sets, key=key) for p in PRECISIONS
            if (sets := [s for s in held_accuracy if s[0].endswith(f"-{p}")])}


def choose(variants: dict, load: Callable[[str], Model], images: np.ndarray,
           labels: np.ndarray) -> dict[str, tuple[str, ...]]:
    """The rule's picks for the zoo whose manifest entries are `variants` (`load` gives a
    variant's model), judged on the held-out `images` (uint8) and `labels`."""
    sets = candidates(variants, float_accuracy(variants, load, images, labels))
    return pick(accuracy(sets, variants, load, images, labels), variants)


def float_accuracy(variants: dict, load: Callable[[str], Model], images: np.ndarray,
                   labels: np.ndarray) -> dict[str, float]:
    """{float32 variant: its accuracy on `images`}: what ranks the architectures."""
    floats = [(n,) for n, e in variants.items() if e["precision"] == "float32"]
    return {s[0]: a for s, a in accuracy(floats, variants, load, images, labels).items()}


def accuracy(sets: Iterable[tuple[str, ...]], variants: dict, load: Callable[[str], Model],
             images: np.ndarray, labels: np.ndarray) -> dict[tuple[str, ...], float]:
    """{member set: its vote's accuracy on `images`}; each variant runs once."""
    sets = list(sets)
    probs = voting.calibrated_probabilities((m for s in sets for m in s), variants, load,
                                            images)
    return {s: float((voting.average([probs[m][0] for m in s]).argmax(axis=1) == labels).mean())
            for s in sets}
