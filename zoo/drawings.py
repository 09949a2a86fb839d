"""Drawn digits: those the classifiers are measured on, and those they may learn from.

MNIST's test set says how a variant reads MNIST; a visitor draws. So the manifest records
each variant's accuracy on pen-stroke digits no variant ever trains on (`drawn_digits`: a
held-out printed face, or a held-out size or pen), taken through the app's preprocessing,
so the README's table can show both; and `train.py --drawings N` can fine-tune every
architecture, once trained on MNIST, on MNIST plus drawings (`training_drawings`: MNIST
training digits redrawn as pen strokes, and pen-stroke digits of `engine.data.strokes` in
its training faces and styles). The measured set is fixed (its seed and size below), so
the figure is comparable between variants and reproducible from the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

import numpy as np
from tqdm.auto import tqdm

from engine.calibration import calibrated, expected_calibration_error
from engine.data.drawn import drawn_digits as redrawn
from engine.data.strokes import (
    HELD_OUT_STYLES,
    digit_drawings,
    held_out_digits,
    training_digits,
)
from engine.model import Model, logits
from engine.preprocess import preprocess

SEED = 31  # bench/held_out_drawings.py draws with it too; no training generator uses it
PER_STYLE = 600
# Names the set in every entry: figures on another set (an older zoo's) are measured again.
DRAWN_SET = f"pen strokes in held-out faces and styles, seed {SEED}"
FIELDS = ("drawn_set", "drawn_correct", "drawn_images", "drawn_accuracy", "drawn_ece")
TRAINING_SEED = 5  # the drawings an architecture may learn from after MNIST (train.py)


def labelled_images(pairs: Iterable[tuple[np.ndarray, int]], total: int, desc: str,
                    progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """(drawing, label) pairs -> (uint8 28x28 images, labels) of those the preprocessing
    passes (blank, stray and full canvases never reach a model)."""
    images, labels = [], []
    for d, label in tqdm(pairs, total=total, desc=desc, disable=not progress, leave=False):
        pre = preprocess(d)
        if pre.ok:
            images.append(np.rint(pre.image * 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels, np.int64)


def drawn_sources(images: np.ndarray, labels: np.ndarray, n: int, seed: int,
                  progress: bool = False, training_only: bool = False
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(uint8 images, labels)] of each source of drawn digits, as the app's preprocessing
    leaves them: the first `n` MNIST digits of `images` redrawn, and `n` pen-stroke digits
    in every face and style (with `training_only`, those a classifier may learn from)."""
    pen = training_digits(n, seed) if training_only else digit_drawings(n, seed)
    return [labelled_images(redrawn(images, labels, n, seed), n, "redrawn digits", progress),
            labelled_images(((d, y) for d, y, _ in pen), n, "pen-stroke digits", progress)]


def training_drawings(images: np.ndarray, labels: np.ndarray, n: int,
                      seed: int = TRAINING_SEED, progress: bool = False
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, labels): `n` of the MNIST training digits `images` redrawn, and `n`
    pen-stroke digits in the training faces and styles."""
    pick = np.random.default_rng(seed).choice(len(images), min(n, len(images)), replace=False)
    x, y = zip(*drawn_sources(images[pick], labels[pick], len(pick), seed, progress,
                              training_only=True))
    return np.concatenate(x), np.concatenate(y)


@cache
def drawn_digits(per_style: int = PER_STYLE, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): the held-out drawn digits the preprocessing passes, as (N, 28, 28) float32
    in [0, 1]."""
    images, labels = [], []
    for drawing, label, _ in held_out_digits(per_style * len(HELD_OUT_STYLES), seed):
        pre = preprocess(drawing)
        if pre.ok:
            images.append(pre.x[0])
            labels.append(label)
    return np.stack(images).astype(np.float32), np.array(labels)


def fields(correct: int, images: int) -> dict:
    """The manifest's drawn-digit fields, a variant's or an ensemble's."""
    return {"drawn_set": DRAWN_SET, "drawn_correct": correct, "drawn_images": images,
            "drawn_accuracy": correct / images}


def drawn_figures(model: Model, per_style: int = PER_STYLE,
                  temperature: float | None = None) -> dict:
    """The manifest's drawn-digit fields for `model` (a smoke run measures fewer); with
    the `temperature` fitted on MNIST, also how well that calibration holds on drawings."""
    x, y = drawn_digits(per_style)
    z = logits(model, x.astype(model.dtype))
    figures = fields(int((z.argmax(axis=1) == y).sum()), len(y))
    if temperature is not None:
        figures["drawn_ece"] = round(expected_calibration_error(calibrated(z, temperature), y), 5)
    return figures


def missing_drawn_figures(variants: dict, load: Callable[[str], Model],
                          per_style: int = PER_STYLE) -> dict[str, dict]:
    """The entries of `variants` (a manifest's) whose drawn-digit fields are missing or of
    another set, with them measured on the files `load` reads: a zoo written before."""
    return {name: _placed(e, drawn_figures(load(name), per_style, e.get("temperature")))
            for name, e in variants.items() if e.get("drawn_set") != DRAWN_SET}


def _placed(e: dict, figures: dict) -> dict:
    """`e` with `figures` where zoo.entries.variant_entry puts them (after "qat"), in place
    of any it had, so a filled-in entry reads like one a run wrote."""
    out = {}
    for key, value in e.items():
        if key not in FIELDS:
            out[key] = value
        if key == "qat":
            out.update(figures)
    return out if "drawn_correct" in out else {**out, **figures}
