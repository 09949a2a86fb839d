"""Test-time views: a digit as given and moved a little, so a model can read it several ways.

A network trained on shifted and rotated digits should answer the same for each small move;
where it is unsure, its answers over a few moves differ, and their mean is steadier than
any one (test-time augmentation). The moves are the training augmentation's smallest: one
pixel each way, and 6 degrees each way (half its largest rotation). Shifts fill with
background rather than wrapping, so no ink crosses an edge. `read` is a model's calibrated
probabilities averaged over views: what an ensemble's member answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from engine.calibration import calibrated
from engine.model import Model, logits

AS_GIVEN = "as-given"
VIEWS = (AS_GIVEN, "right", "left", "down", "up", "anticlockwise", "clockwise")
_SHIFTS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}
_DEGREES = {"anticlockwise": 6.0, "clockwise": -6.0}


def check_views(names: Sequence[str]) -> tuple[str, ...]:
    """`names` as a tuple, if they are one or more distinct known views; ValueError if not."""
    names = tuple(names)
    if not names or len(set(names)) != len(names) or not set(names) <= set(VIEWS):
        raise ValueError(f"views must be one or more distinct names from {list(VIEWS)}, "
                         f"not {list(names)}")
    return names


def shifted(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The (N, H, W) images `x` moved `dx` pixels right and `dy` down, background filled in."""
    out = np.zeros_like(x)
    h, w = x.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def rotated(x: np.ndarray, degrees: float) -> np.ndarray:
    """The (N, H, W) images `x` turned `degrees` anticlockwise about their centre.

    Exact bilinear sampling, as four weighted gathers: each pixel's answer is the same
    whatever else is in the batch (OpenCV's warp quantises coordinates and takes another
    path for a stack of images, so one digit would read differently alone and in a batch)."""
    n, h, w = x.shape
    taps, weights = _bilinear(h, w, float(degrees))
    flat = x.reshape(n, h * w)
    out = flat[:, taps[0]] * weights[0].astype(x.dtype)
    for t, wt in zip(taps[1:], weights[1:]):
        out += flat[:, t] * wt.astype(x.dtype)
    return out.reshape(n, h, w)


@lru_cache(maxsize=16)
def _bilinear(h: int, w: int, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """(4, H*W) source pixels and their weights for rotating an HxW image: each output pixel
    reads the point it came from, a tap outside the image weighing nothing."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ys, xs = np.mgrid[0:h, 0:w].reshape(2, -1).astype(np.float64)
    # Screen rows grow downwards, so an anticlockwise turn on screen is clockwise in (x, y).
    sx = cx + c * (xs - cx) - s * (ys - cy)
    sy = cy + s * (xs - cx) + c * (ys - cy)
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    taps, weights = [], []
    for dy, dx, wt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)),
                       (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        yy, xx = (y0 + dy).astype(np.intp), (x0 + dx).astype(np.intp)
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        taps.append(np.where(inside, yy * w + xx, 0))
        weights.append(np.where(inside, wt, 0.0))
    return np.stack(taps), np.stack(weights)


def view(x: np.ndarray, name: str) -> np.ndarray:
    """The (N, H, W) images `x` seen the way `name` says."""
    check_views([name])
    if name in _SHIFTS:
        return shifted(x, *_SHIFTS[name])
    if name in _DEGREES:
        return rotated(x, _DEGREES[name])
    return x


def read(model: Model, x: np.ndarray, temperature: float = 1.0,
         seen: Sequence[str] = (AS_GIVEN,)) -> np.ndarray:
    """`model`'s calibrated probabilities (softmax(logits / temperature)) for the
    (N, 28, 28) input `x`, averaged over the views `seen`.

    A view at a time: memory stays that of one view, and one drawing's views each take the
    model's one-image path, faster and steadier than a batch of seven (whose large
    temporaries cost page faults on some calls)."""
    names = check_views(seen)
    return np.stack([calibrated(logits(model, view(x, n)), temperature)
                     for n in names]).mean(axis=0)
