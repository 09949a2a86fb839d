"""Each variant's accuracy on drawn digits in styles no variant trains on.

MNIST's test set says how a variant reads MNIST; a visitor draws. The manifest records
each variant's accuracy on digits from `engine.data.strokes` (printed faces, small and
off-centre, thick and thin pens, several strokes; no variant trains on that generator)
taken through the app's preprocessing, so the README's table can show both.
The set is fixed (its seed and size below), so the figure is comparable between variants
and reproducible from the files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from engine.data.strokes import DIGIT_STYLES, digit_drawings
from engine.model import Model, evaluate
from engine.preprocess import preprocess

SEED = 31  # bench/held_out_drawings.py draws with it too; no training generator uses it
PER_STYLE = 300
FIELDS = ("drawn_correct", "drawn_images", "drawn_accuracy")


@cache
def drawn_digits(per_style: int = PER_STYLE, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): the digits the preprocessing passes, as (N, 28, 28) float32 in [0, 1]."""
    images, labels = [], []
    for drawing, label, _ in digit_drawings(per_style * len(DIGIT_STYLES), seed):
        pre = preprocess(drawing)
        if pre.ok:
            images.append(pre.x[0])
            labels.append(label)
    return np.stack(images).astype(np.float32), np.array(labels)


def fields(correct: int, images: int) -> dict:
    """The manifest's drawn-digit fields, a variant's or an ensemble's."""
    return {"drawn_correct": correct, "drawn_images": images, "drawn_accuracy": correct / images}


def drawn_figures(model: Model, per_style: int = PER_STYLE) -> dict:
    """The manifest's drawn-digit fields for `model` (a smoke run measures fewer)."""
    x, y = drawn_digits(per_style)
    return fields(evaluate(model, x.astype(model.dtype), y), len(y))


def missing_drawn_figures(variants: dict, load: Callable[[str], Model],
                          per_style: int = PER_STYLE) -> dict[str, dict]:
    """The entries of `variants` (a manifest's) that lack the drawn-digit fields, with
    them measured on the files `load` reads: a zoo written before they were recorded."""
    return {name: _placed(e, drawn_figures(load(name), per_style))
            for name, e in variants.items() if "drawn_correct" not in e}


def _placed(e: dict, figures: dict) -> dict:
    """`e` with `figures` where zoo.entries.variant_entry puts them (after "qat"), so a
    filled-in entry reads like one a run wrote."""
    out = {}
    for key, value in e.items():
        out[key] = value
        if key == "qat":
            out.update(figures)
    return out if "drawn_correct" in out else {**out, **figures}
