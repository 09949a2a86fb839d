"""Which variants vote: the rule that picks the zoo's ensembles, on held-out images only.

Candidates are built by rule, not searched: a search over every subset would fit the 5,000
held-out images it is judged on. The architectures are ranked by their float32 variant's
accuracy on the held-out training images; the candidates are the best two, three and four
CNNs, the best two and three with the best MLP (another family's mistakes) and the best CNN
with the MLP, each in int8 (as accurate as float at a quarter of the bytes) and in 2 bits,
each read as given and in all of engine.views' views. In each precision the pick is the
candidate most accurate on the held-out images, a tie (one image is 0.02 points) going to
the smaller set, then to the one reading fewer views (less work per drawing). The test set
never chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from engine.model import Model
from engine.views import AS_GIVEN, VIEWS
from zoo import voting

PRECISIONS = ("int8", "int2")
VIEW_SETS = ((AS_GIVEN,), VIEWS)
Reading = tuple[tuple[str, ...], tuple[str, ...]]  # (member variants, the views they read)


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


def readings(sets: Iterable[tuple[str, ...]]) -> list[Reading]:
    """Each member set read in each of the rule's view sets."""
    return [(s, v) for s in sets for v in VIEW_SETS]


def pick(held_accuracy: dict[Reading, float], variants: dict) -> dict[str, Reading]:
    """{precision: the reading most accurate on the held-out images (`held_accuracy`, by
    (members, views)), a tie to the one of fewer bytes, then of fewer views}."""
    def key(r: Reading) -> tuple[float, int, int]:
        return held_accuracy[r], -sum(variants[n]["bytes"] for n in r[0]), -len(r[1])
    return {p: max(rs, key=key) for p in PRECISIONS
            if (rs := [r for r in held_accuracy if r[0][0].endswith(f"-{p}")])}


def choose(variants: dict, load: Callable[[str], Model], images: np.ndarray,
           labels: np.ndarray) -> dict[str, Reading]:
    """The rule's picks for the zoo whose manifest entries are `variants` (`load` gives a
    variant's model), judged on the held-out `images` (uint8) and `labels`."""
    sets = candidates(variants, float_accuracy(variants, load, images, labels))
    return pick(accuracy(readings(sets), variants, load, images, labels), variants)


def float_accuracy(variants: dict, load: Callable[[str], Model], images: np.ndarray,
                   labels: np.ndarray) -> dict[str, float]:
    """{float32 variant: its accuracy on `images`, read as given}: what ranks the
    architectures."""
    floats = [((n,), (AS_GIVEN,)) for n, e in variants.items() if e["precision"] == "float32"]
    return {r[0][0]: a for r, a in accuracy(floats, variants, load, images, labels).items()}


def accuracy(sets: Iterable[Reading], variants: dict, load: Callable[[str], Model],
             images: np.ndarray, labels: np.ndarray) -> dict[Reading, float]:
    """{(members, views): their vote's accuracy on `images`}; each variant reads each
    view once."""
    sets = list(sets)
    probs = voting.calibrated_probabilities(((m, v) for s, v in sets for m in s), variants,
                                            load, images)
    return {(s, v): float((voting.vote(s, v, probs).argmax(axis=1) == labels).mean())
            for s, v in sets}
