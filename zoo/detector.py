"""Is it one digit at all? A small CNN that tells digits from everything else.

A digit classifier has no way to say "none of these": softmax spreads belief over ten
digits only, and a network trained on digits alone is as sure about a letter or a
checkerboard as about a 7 (measured by `bench/not_a_digit.py`: a calibrated confidence
threshold that spares 99% of drawn digits flags about a quarter of non-digits, two families
disagreeing under half). So one more network is trained
for the question itself, with synthetic negatives (outlier exposure): MNIST digits and
drawn digits on one side, letters, words, shapes, scribbles, numbers of several digits and
noise (`engine.data.nondigits`) on the other, all through the app's preprocessing. Its
threshold is chosen on held-out images, never on the test set.

It is stored like a variant (safetensors + config.json, hash-checked, pushed and pulled
with the zoo) under the manifest's "detector" key, not among the digit variants.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from engine.calibration import calibrated
from engine.data.drawn import drawn_digits
from engine.data.nondigits import nondigit_drawings
from engine.model import Model, logits
from engine.preprocess import preprocess
from engine.training import Recipe, init_model, to_input, train
from zoo.registry import PRECISIONS, Architecture, Variant, family

NAME = "not-a-digit"
ARCHITECTURE = Architecture(
    NAME, "cnn",
    {"conv": [{"channels": 16, "kernel": 3, "pad": 1}, {"channels": 32, "kernel": 3, "pad": 1},
              {"channels": 32, "kernel": 3}], "dense": [64], "classes": 2},
    Recipe(epochs=10, weight_decay=0.05), seed=0, precisions=("float32",),
    description="Tells one digit from anything else (class 1: not a digit).")
VARIANT = Variant(ARCHITECTURE, PRECISIONS["float32"])
# Held-out false-alarm budgets the threshold is chosen for: below the goals (0.5% of MNIST
# test, 1% of drawn digits) so the test figures have room.
MNIST_BUDGET, DRAWN_BUDGET = 0.0025, 0.005
NEGATIVE_SEED, VALIDATION_SEED = 1000, 2000  # the bench's evaluation set uses its own


def as_images(drawings, total: int, desc: str, progress: bool) -> np.ndarray:
    """Drawings -> the uint8 28x28 images the models would see (blank/stray/full dropped:
    those never reach a model)."""
    out = []
    for d in tqdm(drawings, total=total, desc=desc, disable=not progress, leave=False):
        pre = preprocess(d[0] if isinstance(d, tuple) else d)
        if pre.ok:
            out.append(np.rint(pre.image * 255).astype(np.uint8))
    return np.stack(out)


def not_a_digit_probability(model: Model, x: np.ndarray) -> np.ndarray:
    """P(not a digit) for images `x` (N, 28, 28) floats in [0, 1]."""
    return calibrated(logits(model, x), 1.0)[:, 1]


def threshold_for(p_mnist: np.ndarray, p_drawn: np.ndarray) -> float:
    """The highest score that real digits reach within the false-alarm budgets: anything
    above it is called not a digit."""
    # "higher": a score that real digits reach, so at most the budget lies above it
    return float(max(np.quantile(p_mnist, 1 - MNIST_BUDGET, method="higher"),
                     np.quantile(p_drawn, 1 - DRAWN_BUDGET, method="higher")))


def train_detector(train_images: np.ndarray, held_out: np.ndarray, *, negatives: int = 45000,
                   drawn: int = 10000, epochs: int | None = None, seed: int = 0,
                   progress: bool = True) -> tuple[Model, dict]:
    """Train on `train_images` (MNIST digits, uint8) against synthetic negatives; choose
    the threshold on `held_out` digits (never trained on) and fresh negatives."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train_images), min(drawn, len(train_images)), replace=False)
    x_drawn = as_images(drawn_digits(train_images[pick], np.zeros(len(pick)), len(pick),
                                     seed), len(pick), "drawn digits", progress)
    x_neg = as_images(nondigit_drawings(negatives, NEGATIVE_SEED + seed, train_images),
                      negatives, "non-digits", progress)
    x = np.concatenate([train_images, x_drawn, x_neg])
    y = np.concatenate([np.zeros(len(train_images) + len(x_drawn), np.int64),
                        np.ones(len(x_neg), np.int64)])
    recipe = ARCHITECTURE.recipe.with_(epochs=epochs or ARCHITECTURE.recipe.epochs)
    model = init_model(family("cnn"), ARCHITECTURE.config, seed, recipe.dtype)
    history = train(model, x, y, recipe, seed, progress=progress, desc=NAME)
    facts = {**held_out_threshold(model, held_out, seed, progress),
             "recipe": recipe.to_dict(), "seed": seed,
             "train_digits": len(train_images), "train_drawn_digits": len(x_drawn),
             "train_non_digits": len(x_neg), "final_train_loss": round(history.loss[-1], 5),
             "train_seconds": round(time.perf_counter() - start, 1)}
    return model, facts


def held_out_threshold(model: Model, held_out: np.ndarray, seed: int = 0,
                       progress: bool = False) -> dict:
    """The threshold, chosen on images the detector never saw (the held-out digits, their
    redrawings, fresh non-digits), and what it flags there."""
    n_val = min(2000, len(held_out))
    val_drawn = as_images(drawn_digits(held_out[:n_val], np.zeros(n_val), n_val, seed + 1),
                          n_val, "held-out drawn digits", progress)
    val_neg = as_images(nondigit_drawings(3000, VALIDATION_SEED + seed, held_out), 3000,
                        "held-out non-digits", progress)
    p_mnist = not_a_digit_probability(model, to_input(held_out))
    p_drawn = not_a_digit_probability(model, to_input(val_drawn))
    t = threshold_for(p_mnist, p_drawn)
    p_neg = not_a_digit_probability(model, to_input(val_neg))
    return {"threshold": t,
            "held_out": {"mnist": len(held_out), "drawn": len(val_drawn),
                         "non_digits": len(val_neg),
                         "mnist_flagged": float((p_mnist > t).mean()),
                         "drawn_flagged": float((p_drawn > t).mean()),
                         "non_digits_flagged": float((p_neg > t).mean())}}


def manifest_section(files: dict[str, dict], facts: dict) -> dict:
    """The manifest's "detector" entry for the detector's written `files`."""
    return {"name": VARIANT.name, "family": "cnn", "model_config": ARCHITECTURE.config,
            "files": files, "bytes": sum(f["bytes"] for f in files.values()), **facts}
