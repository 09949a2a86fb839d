"""Drawings that are not one digit: what a visitor draws when the app should say so.

Letters in stroke fonts (OpenCV's Hershey fonts are pen strokes, so they look drawn),
short words, shapes, scribbles, numbers of several digits, and noise, each drawn black on
white at a random size, place, pen width and slant, like `engine.data.drawn`'s digits.
Glyphs that are the same shape as a digit (O, o, I, l, i, a circle, a single bar) are left
out: no one could say whether they are digits, so they measure nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np

from engine.data.drawn import CANVAS_SIZES, draw

LETTERS = "ABCEFGHJKLMNPQRTUVWXYZabcdefghjkmnpqrstuvwxyz"
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_SCRIPT_COMPLEX, cv2.FONT_HERSHEY_PLAIN)
KINDS = ("letter", "word", "shape", "scribble", "number", "noise")


def _canvas(rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    size = int(rng.choice(CANVAS_SIZES))
    pen = max(1, round(rng.uniform(0.01, 0.05) * size))
    return np.full((size, size), 255, np.uint8), size, pen


def _slant(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random small rotation and shear about the centre, paper showing where it moved."""
    size = canvas.shape[0]
    a, sh = np.deg2rad(rng.uniform(-12, 12)), rng.uniform(-0.25, 0.25)
    m = np.array([[np.cos(a), -np.sin(a) + sh], [np.sin(a), np.cos(a)]])
    c = np.array([size / 2, size / 2])
    affine = np.hstack([m, (c - m @ c)[:, None]])
    return cv2.warpAffine(canvas, affine, (size, size), borderValue=255)


def _place(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crop of black-on-white ink, scaled to a random share of a random canvas and put
    at a random place on it."""
    size = int(rng.choice(CANVAS_SIZES))
    ys, xs = np.nonzero(ink < 255)
    ink = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = rng.uniform(0.3, 0.85) * size / max(ink.shape)
    h, w = (max(1, round(d * scale)) for d in ink.shape)
    small = cv2.resize(ink, (w, h), interpolation=cv2.INTER_AREA)
    canvas = np.full((size, size), 255, np.uint8)
    top, left = (int(rng.uniform(0, size - d + 1)) for d in (h, w))
    canvas[top:top + h, left:left + w] = small
    return canvas


def _text(text: str, rng: np.random.Generator) -> np.ndarray:
    font = int(rng.choice(FONTS))
    scale = 4.0
    (w, h), base = cv2.getTextSize(text, font, scale, 1)
    pen = max(1, round(rng.uniform(0.03, 0.10) * h))  # a pen, not a bold face
    big = np.full((h + base + 4 * pen + 40, w + 4 * pen + 40), 255, np.uint8)
    cv2.putText(big, text, (2 * pen + 20, h + 2 * pen + 20), font, scale, 0, pen, cv2.LINE_AA)
    return _slant(_place(big, rng), rng)


def letter(rng: np.random.Generator, _digits=None) -> np.ndarray:
    return _text(str(rng.choice(list(LETTERS))), rng)


def word(rng: np.random.Generator, _digits=None) -> np.ndarray:
    return _text("".join(rng.choice(list(LETTERS), int(rng.integers(2, 4)))), rng)


def shape(rng: np.random.Generator, _digits=None) -> np.ndarray:
    canvas, size, pen = _canvas(rng)
    r = rng.uniform(0.15, 0.4) * size
    c = rng.uniform(r + pen, size - r - pen, 2)
    kind = rng.choice(["rectangle", "triangle", "star", "cross", "heart", "spiral", "arrow",
                       "grid", "filled disc", "frame"])
    poly = None
    if kind == "rectangle":
        half = r * rng.uniform(0.5, 1.0, 2)
        poly = [c + half * s for s in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    elif kind == "triangle":
        poly = [c + r * np.array([np.sin(t), -np.cos(t)]) for t in
                np.deg2rad([0, 120, 240]) + rng.uniform(0, 2 * np.pi)]
    elif kind == "star":
        t = np.deg2rad(np.arange(0, 720, 144)) + rng.uniform(0, 2 * np.pi)
        poly = [c + r * np.array([np.cos(a), np.sin(a)]) for a in t]
    elif kind == "cross":  # an x, not a plus (a plus can pass for a 4 or a 7)
        for s in (1, -1):
            cv2.line(canvas, tuple(np.int32(c - r * np.array([1, s]))),
                     tuple(np.int32(c + r * np.array([1, s]))), 0, pen, cv2.LINE_AA)
    elif kind == "heart":
        t = np.linspace(0, 2 * np.pi, 60)
        xy = np.stack([16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t)
                                              - 2 * np.cos(3 * t) - np.cos(4 * t))], 1)
        poly = list(c + xy * r / 17)
    elif kind == "spiral":
        t = np.linspace(0, rng.uniform(3, 5) * 2 * np.pi, 200)
        poly = list(c + np.stack([np.cos(t), np.sin(t)], 1) * (r * t / t[-1])[:, None])
        cv2.polylines(canvas, [np.int32(poly)], False, 0, pen, cv2.LINE_AA)
        poly = None
    elif kind == "arrow":
        a, b = c - np.array([r, 0]), c + np.array([r, 0])
        cv2.arrowedLine(canvas, tuple(np.int32(a)), tuple(np.int32(b)), 0, pen, cv2.LINE_AA,
                        tipLength=0.35)
    elif kind == "grid":  # a hash sign's big brother
        for k in np.linspace(-r, r, 4):
            cv2.line(canvas, tuple(np.int32(c + np.array([k, -r]))),
                     tuple(np.int32(c + np.array([k, r]))), 0, pen)
            cv2.line(canvas, tuple(np.int32(c + np.array([-r, k]))),
                     tuple(np.int32(c + np.array([r, k]))), 0, pen)
    elif kind == "filled disc":
        cv2.circle(canvas, tuple(np.int32(c)), int(r), 0, -1, cv2.LINE_AA)
    else:  # a frame around the canvas
        m = int(rng.uniform(0.02, 0.1) * size)
        cv2.rectangle(canvas, (m, m), (size - m, size - m), 0, pen)
    if poly is not None:
        cv2.polylines(canvas, [np.int32(poly)], True, 0, pen, cv2.LINE_AA)
    return _slant(canvas, rng)


def scribble(rng: np.random.Generator, _digits=None) -> np.ndarray:
    """A random smooth pen path with many turns, as when someone tests the pad."""
    canvas, size, pen = _canvas(rng)
    n = int(rng.integers(8, 20))
    pts = rng.uniform(0.1, 0.9, (n, 2)) * size
    t = np.linspace(0, 1, 40)[:, None]
    path = []
    for a, b, c in zip(pts[:-2], pts[1:-1], pts[2:]):  # quadratic curves through midpoints
        p0, p2 = (a + b) / 2, (b + c) / 2
        path.append((1 - t) ** 2 * p0 + 2 * (1 - t) * t * b + t ** 2 * p2)
    cv2.polylines(canvas, [np.int32(np.concatenate(path))], False, 0, pen, cv2.LINE_AA)
    return canvas


def number(rng: np.random.Generator, digits: np.ndarray | None) -> np.ndarray:
    """Two or three digits side by side: MNIST digits redrawn as strokes, or a font."""
    if digits is None or rng.random() < 0.3:
        return _text("".join(rng.choice(list("0123456789"), int(rng.integers(2, 4)))), rng)
    k = int(rng.integers(2, 4))
    tiles = []
    for i in rng.integers(0, len(digits), k):
        t = draw(digits[int(i)], rng, 280)
        ys, xs = np.nonzero(t < 255)
        tiles.append(cv2.resize(t[ys.min():ys.max() + 1, xs.min():xs.max() + 1],
                                None, fx=150 / (ys.max() - ys.min() + 1),
                                fy=150 / (ys.max() - ys.min() + 1),
                                interpolation=cv2.INTER_AREA))
    gap = np.full((150, 20), 255, np.uint8)
    row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    return _place(row, rng)


def noise(rng: np.random.Generator, _digits=None) -> np.ndarray:
    canvas, size, pen = _canvas(rng)
    kind = rng.choice(["speckle", "stripes", "checkerboard", "dots", "lines"])
    if kind == "speckle":
        canvas[rng.random((size, size)) < rng.uniform(0.05, 0.5)] = 0
    elif kind == "stripes":
        period = int(rng.integers(8, max(9, size // 6)))
        canvas[:, (np.arange(size) // period) % 2 == 0] = 0
        if rng.random() < 0.5:
            canvas = canvas.T.copy()
    elif kind == "checkerboard":
        period = int(rng.integers(8, max(9, size // 6)))
        ys, xs = np.indices((size, size)) // period
        canvas[(ys + xs) % 2 == 0] = 0
    elif kind == "dots":
        for _ in range(int(rng.integers(10, 60))):
            cv2.circle(canvas, tuple(int(v) for v in rng.integers(0, size, 2)), pen, 0, -1)
    else:
        for _ in range(int(rng.integers(5, 20))):
            a, b = rng.integers(0, size, (2, 2))
            cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), 0, pen)
    return canvas


MAKERS: dict[str, Callable] = {"letter": letter, "word": word, "shape": shape,
                               "scribble": scribble, "number": number, "noise": noise}


def nondigit_drawings(n: int, seed: int = 0, digits: np.ndarray | None = None,
                      kinds: tuple[str, ...] = KINDS) -> Iterator[tuple[np.ndarray, str]]:
    """`n` (drawing, kind) pairs cycling through `kinds`, reproducible from `seed`.
    `digits` (28x28 uint8 MNIST images) are what multi-digit numbers are drawn from."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        yield MAKERS[kind](rng, digits), kind
