"""Drawn-like digits: MNIST test digits redrawn as a mouse would draw them.

Accuracy on MNIST says little about the app, where digits are thin strokes of any size
and place on a large white canvas. To measure that without a crowd of people drawing,
each MNIST test digit is thinned to its one-pixel skeleton (Zhang-Suen), and the skeleton
is redrawn as pen strokes after a random scale, slant, rotation and shift, with a random
pen width, black on white. The label is the MNIST label, so no human labelling is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import cv2
import numpy as np

CANVAS_SIZES = (280, 400, 560, 800)
UPSAMPLE = 4


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a binary image to a one-pixel-wide skeleton."""
    img = np.pad(mask.astype(np.uint8), 1)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(p.astype(np.int16) for p in ring[:-1])
            transitions = sum(((a == 0) & (b == 1)).astype(np.int16)
                              for a, b in itertools.pairwise(ring))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (c == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                c[remove] = 0
                changed = True
    return img[1:-1, 1:-1].astype(bool)


def skeleton_segments(digit: np.ndarray) -> np.ndarray:
    """(K, 2, 2) line segments (x, y) joining 8-connected skeleton pixels, in 28px units."""
    big = cv2.resize(digit, (28 * UPSAMPLE,) * 2, interpolation=cv2.INTER_CUBIC)
    skel = thin(big > 127)
    ys, xs = np.nonzero(skel)
    on = set(zip(ys.tolist(), xs.tolist()))
    segs = [((x, y), (x + dx, y + dy)) for y, x in on
            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)) if (y + dy, x + dx) in on]
    if not segs:  # a single dot
        segs = [((x, y), (x, y)) for y, x in on]
    return np.array(segs, np.float64) / UPSAMPLE


def draw(digit: np.ndarray, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """One 28x28 uint8 MNIST digit -> (S, S) uint8 drawing, black strokes on white."""
    size = int(size or rng.choice(CANVAS_SIZES))
    segs = skeleton_segments(digit)
    pts = segs.reshape(-1, 2)
    lo, hi = pts.min(0), pts.max(0)
    height = max(hi[1] - lo[1], 1.0)
    target = rng.uniform(0.3, 0.85) * size  # digit height on the canvas
    pen = max(1, round(rng.uniform(0.008, 0.05) * size))
    angle = np.deg2rad(rng.uniform(-10, 10))
    shear = rng.uniform(-0.3, 0.3)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = rot @ np.array([[1, -shear], [0, 1]]) * (target / height)
    moved = (pts - (lo + hi) / 2) @ m.T
    span = moved.max(0) - moved.min(0)
    room = np.maximum(size - span - 2 * pen, 0)
    moved += -moved.min(0) + pen + rng.uniform(0, 1, 2) * room
    canvas = np.full((size, size), 255, np.uint8)
    for (x0, y0), (x1, y1) in np.rint(moved * 16).astype(np.int64).reshape(-1, 2, 2):
        cv2.line(canvas, (int(x0), int(y0)), (int(x1), int(y1)), 0, pen, cv2.LINE_AA, 4)
    return canvas


def drawn_digits(images: np.ndarray, labels: np.ndarray, n: int, seed: int = 0,
                 size: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """`n` (drawing, label) pairs from the first `n` digits, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield draw(images[i], rng, size), int(labels[i])
