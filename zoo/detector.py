"""Is it one digit at all? A CNN that tells digits from everything else.

A digit classifier has no way to say "none of these": softmax spreads belief over ten
digits only, and a network trained on digits alone is as sure about a letter or a
checkerboard as about a 7 (measured by `bench/not_a_digit.py`: a calibrated confidence
threshold that spares 99% of drawn digits flags about a quarter of non-digits, two families
disagreeing under half). So one more network is trained for the question itself, with
synthetic negatives (outlier exposure): MNIST digits, their redrawings and pen-stroke digits
in printed styles on one side; on the other, eleven generators of non-digits (the font
letters, words, shapes, scribbles, numbers and noise of `engine.data.nondigits`, the
stroke letters, symbols, doodles, crossed-out digits and scribbles of
`engine.data.strokes`), all through the app's preprocessing. Its threshold is chosen on
held-out images, never on the test set.

It answers eleven classes, the ten digits and "not a digit" last, and the last one's
probability is the score. Chosen by measurement (`bench/detector_logo.py`, each generator
left out in turn): learning which digit a positive is keeps the digit side tight, so a
kind of drawing no generator made lands outside it more often than with two classes, and
a wider network generalises further still.

It is stored like a variant (safetensors + config.json, hash-checked, pushed and pulled
with the zoo) under the manifest's "detector" key, not among the digit variants.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np

from engine.calibration import calibrated
from engine.data import nondigits, strokes
from engine.model import Model, logits
from engine.training import Recipe, init_model, to_input, train
from zoo.drawings import drawn_sources, labelled_images
from zoo.registry import PRECISIONS, Architecture, Variant, family

NAME = "not-a-digit"
NOT_A_DIGIT = 10  # the last class; 0-9 are the digits
ARCHITECTURE = Architecture(
    NAME, "cnn",
    {"conv": [{"channels": 32, "kernel": 3, "pad": 1}, {"channels": 64, "kernel": 3, "pad": 1},
              {"channels": 64, "kernel": 3}], "dense": [128], "classes": NOT_A_DIGIT + 1},
    Recipe(epochs=10, weight_decay=0.05), seed=0, precisions=("float32",),
    description="Tells one digit from anything else (the last of its 11 classes: not a digit).")
VARIANT = Variant(ARCHITECTURE, PRECISIONS["float32"])
# Every generator of non-digits, as (module, kind): the negatives take turns among them.
GENERATORS = (*(("font", k) for k in nondigits.KINDS),
              *(("stroke", k) for k in strokes.NONDIGIT_KINDS))
# Held-out false-alarm budgets the threshold is chosen for, well below the goals (0.5% of
# MNIST test, 1% of drawn digits): MNIST's test writers and their redrawings are refused
# about twice as often as the held-out training images the budget is spent on.
MNIST_BUDGET = DRAWN_BUDGET = 0.0025
NEGATIVE_SEED, VALIDATION_SEED = 1000, 2000  # the bench's evaluation set uses its own


def non_digits(n: int, seed: int, digits: np.ndarray | None = None,
               generators: tuple[tuple[str, str], ...] = GENERATORS) -> Iterator[np.ndarray]:
    """`n` drawings that are not one digit, `generators` taking turns, from `seed`.
    `digits` (28x28 uint8 MNIST images) are what the font generator's numbers are made of."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        source, kind = generators[i % len(generators)]
        yield (nondigits.MAKERS[kind](rng, digits) if source == "font"
               else strokes.nondigit(rng, kind))


def as_images(drawings: Iterable, total: int, desc: str, progress: bool) -> np.ndarray:
    """Drawings (or (drawing, label) pairs) -> the uint8 28x28 images the models would see
    (blank/stray/full dropped: those never reach a model)."""
    return labelled_images(((d[0] if isinstance(d, tuple) else d, 0) for d in drawings),
                           total, desc, progress)[0]


def drawn_positives(images: np.ndarray, labels: np.ndarray, n: int, seed: int,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`n` MNIST digits redrawn as strokes and `n` pen-stroke digits in every style, with
    their labels: the drawn digits the detector must leave alone."""
    x, y = zip(*drawn_sources(images, labels, n, seed, progress))
    return np.concatenate(x), np.concatenate(y)


def not_a_digit_probability(model: Model, x: np.ndarray) -> np.ndarray:
    """P(not a digit) for images `x` (N, 28, 28) floats in [0, 1]: the detector's last
    class (a two-class detector, as zoos before shipped, answers it last too)."""
    return calibrated(logits(model, x), 1.0)[:, -1]


def threshold_for(p_mnist: np.ndarray, *p_drawn: np.ndarray,
                  drawn_budget: float = DRAWN_BUDGET) -> float:
    """The highest score that real digits reach within the false-alarm budgets (MNIST's,
    and the drawn digits' for each source of them): anything above it is called not a
    digit."""
    # "higher": a score that real digits reach, so at most the budget lies above it
    return float(max(np.quantile(p_mnist, 1 - MNIST_BUDGET, method="higher"),
                     *(np.quantile(p, 1 - drawn_budget, method="higher") for p in p_drawn)))


def train_detector(train_images: np.ndarray, train_labels: np.ndarray, held_out: np.ndarray,
                   held_out_labels: np.ndarray, *, negatives: int = 44000, drawn: int = 10000,
                   validation: int = 2000, epochs: int | None = None, seed: int = 0,
                   progress: bool = True) -> tuple[Model, dict]:
    """Train on `train_images` (MNIST digits, uint8, with their labels) and drawn digits
    against synthetic non-digits; choose the threshold on `held_out` digits (never trained
    on) and `validation` fresh drawn digits of each source."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train_images), min(drawn, len(train_images)), replace=False)
    x_drawn, y_drawn = drawn_positives(train_images[pick], train_labels[pick], len(pick), seed,
                                       progress)
    x_neg = as_images(non_digits(negatives, NEGATIVE_SEED + seed, train_images), negatives,
                      "non-digits", progress)
    x = np.concatenate([train_images, x_drawn, x_neg])
    y = np.concatenate([train_labels.astype(np.int64), y_drawn,
                        np.full(len(x_neg), NOT_A_DIGIT, np.int64)])
    recipe = ARCHITECTURE.recipe.with_(epochs=epochs or ARCHITECTURE.recipe.epochs)
    model = init_model(family("cnn"), ARCHITECTURE.config, seed, recipe.dtype)
    history = train(model, x, y, recipe, seed, progress=progress, desc=NAME)
    facts = {**held_out_threshold(model, held_out, held_out_labels, seed, progress, validation),
             "recipe": recipe.to_dict(), "seed": seed,
             "train_digits": len(train_images), "train_drawn_digits": len(x_drawn),
             "train_non_digits": len(x_neg), "generators": [" ".join(g) for g in GENERATORS],
             "final_train_loss": round(history.loss[-1], 5),
             "train_seconds": round(time.perf_counter() - start, 1)}
    return model, facts


def held_out_threshold(model: Model, held_out: np.ndarray, held_out_labels: np.ndarray,
                       seed: int = 0, progress: bool = False, validation: int = 2000) -> dict:
    """The threshold, chosen on images the detector never saw (the held-out digits,
    `validation` of their redrawings and fresh stroke digits, and fresh non-digits), and
    what it flags there."""
    n_val = min(validation, len(held_out))
    sources = drawn_sources(held_out[:n_val], held_out_labels[:n_val], n_val,
                            VALIDATION_SEED + seed, progress)
    n_neg = 300 * len(GENERATORS) * n_val // 2000  # 300 of each kind for 2,000 digits
    val_neg = as_images(non_digits(n_neg, VALIDATION_SEED + seed, held_out), n_neg,
                        "held-out non-digits", progress)
    p_mnist = not_a_digit_probability(model, to_input(held_out))
    p_drawn = [not_a_digit_probability(model, to_input(x)) for x, _ in sources]
    t = threshold_for(p_mnist, *p_drawn)
    p_neg = not_a_digit_probability(model, to_input(val_neg))
    return {"threshold": t,
            "held_out": {"mnist": len(held_out), "drawn": sum(len(p) for p in p_drawn),
                         "non_digits": len(val_neg),
                         "mnist_flagged": float((p_mnist > t).mean()),
                         "drawn_flagged": float((np.concatenate(p_drawn) > t).mean()),
                         "redrawn_flagged": float((p_drawn[0] > t).mean()),
                         "stroke_digits_flagged": float((p_drawn[1] > t).mean()),
                         "non_digits_flagged": float((p_neg > t).mean())}}


def manifest_section(files: dict[str, dict], facts: dict) -> dict:
    """The manifest's "detector" entry for the detector's written `files`."""
    return {"name": VARIANT.name, "family": "cnn", "model_config": ARCHITECTURE.config,
            "files": files, "bytes": sum(f["bytes"] for f in files.values()), **facts}
