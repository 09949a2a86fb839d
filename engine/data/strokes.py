"""Drawings made the way a hand makes them, by a generator no digit classifier trains on.

`engine.data.drawn` redraws MNIST digits and `engine.data.nondigits` draws font letters and
shapes; the classifiers' figures on those flatter them. This module draws from a different
source: glyphs written as pen strokes in a unit box (letters, symbols, doodles, digits in
printed styles), each point nudged by a hand-like jitter, the strokes smoothed, then
slanted, scaled and placed at random, with a pen from hairline to marker. The classifiers
are measured on its digits in held-out faces and styles (`held_out_digits`), and may learn
from the others (`training_digits`, `train.py --drawings`); the not-a-digit detector learns
from all of it as from the font generators, and is judged on whichever generator it was
not shown.

Non-digit kinds: stroke letters, symbols (+ = ? ! # % arrows...), doodles (house, sun,
smiley...), crossed-out or overwritten digits, scribbles (loops, zigzags, hatching,
spirals, blobs); and glyphs (a few segments of a 3x3 grid), measured as a generator but
not among NONDIGIT_KINDS, which the detector learns from. Digit styles: plain, serif
(flagged 1, footed 1, serif 7), barred (7, Z), open and closed 4, small and off-centre,
thick and thin pens, multi-stroke.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from engine.data.drawn import CANVAS_SIZES

Stroke = list[tuple[float, float]]


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 12) -> Stroke:
    """Points on an ellipse from angle a0 to a1 (degrees, 0 = right, 90 = down)."""
    t = np.deg2rad(np.linspace(a0, a1, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


LETTERS: dict[str, list[Stroke]] = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.6), (0.78, 0.6)]],
    "E": [[(0.9, 0), (0.1, 0), (0.1, 1), (0.9, 1)], [(0.1, 0.5), (0.7, 0.5)]],
    "F": [[(0.9, 0), (0.1, 0), (0.1, 1)], [(0.1, 0.5), (0.7, 0.5)]],
    "H": [[(0.1, 0), (0.1, 1)], [(0.9, 0), (0.9, 1)], [(0.1, 0.5), (0.9, 0.5)]],
    "K": [[(0.15, 0), (0.15, 1)], [(0.9, 0), (0.15, 0.6)], [(0.4, 0.4), (0.9, 1)]],
    "M": [[(0, 1), (0.05, 0), (0.5, 0.65), (0.95, 0), (1, 1)]],
    "N": [[(0.1, 1), (0.1, 0), (0.9, 1), (0.9, 0)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "R": [[(0.1, 1), (0.1, 0), *arc(0.45, 0.25, 0.4, 0.25, -90, 90), (0.1, 0.5)],
          [(0.4, 0.5), (0.9, 1)]],
    "P": [[(0.1, 1), (0.1, 0), *arc(0.45, 0.25, 0.4, 0.25, -90, 90), (0.1, 0.5)]],
    "B": [[(0.1, 1), (0.1, 0), *arc(0.45, 0.25, 0.35, 0.25, -90, 90),
           *arc(0.45, 0.75, 0.45, 0.25, -90, 90), (0.1, 1)]],
    "D": [[(0.1, 0), (0.1, 1), *arc(0.1, 0.5, 0.8, 0.5, 90, -90)]],
    "G": [[*arc(0.5, 0.5, 0.5, 0.5, -30, -330, 20), (0.95, 0.6), (0.55, 0.6)]],
    "k": [[(0.2, 0), (0.2, 1)], [(0.8, 0.4), (0.2, 0.75), (0.8, 1)]],
    "h": [[(0.2, 0), (0.2, 1)], [(0.2, 1), *arc(0.5, 0.6, 0.3, 0.2, 180, 360), (0.8, 1)]],
    "m": [[(0.05, 1), (0.05, 0.4), *arc(0.275, 0.45, 0.22, 0.12, 180, 360), (0.5, 1)],
          [(0.5, 0.5), *arc(0.725, 0.45, 0.22, 0.12, 180, 360), (0.95, 1)]],
    "w": [[(0, 0.3), (0.25, 1), (0.5, 0.5), (0.75, 1), (1, 0.3)]],
}

SYMBOLS: dict[str, list[Stroke]] = {
    "+": [[(0.5, 0.05), (0.5, 0.95)], [(0.05, 0.5), (0.95, 0.5)]],
    "=": [[(0.05, 0.35), (0.95, 0.35)], [(0.05, 0.65), (0.95, 0.65)]],
    "?": [[*arc(0.5, 0.28, 0.35, 0.26, 190, 420), (0.5, 0.7)], [(0.5, 0.9), (0.5, 0.95)]],
    "!": [[(0.5, 0), (0.5, 0.7)], [(0.5, 0.9), (0.5, 0.95)]],
    "#": [[(0.35, 0), (0.25, 1)], [(0.75, 0), (0.65, 1)], [(0.05, 0.35), (0.95, 0.35)],
          [(0.05, 0.65), (0.95, 0.65)]],
    "%": [[(0.9, 0), (0.1, 1)], arc(0.2, 0.18, 0.15, 0.15, 0, 360),
          arc(0.8, 0.82, 0.15, 0.15, 0, 360)],
    "->": [[(0, 0.5), (1, 0.5)], [(0.7, 0.25), (1, 0.5), (0.7, 0.75)]],
    "up-arrow": [[(0.5, 1), (0.5, 0)], [(0.25, 0.3), (0.5, 0), (0.75, 0.3)]],
    "check": [[(0, 0.55), (0.35, 0.95), (1, 0)]],
    "*": [[(0.5, 0), (0.5, 1)], [(0.07, 0.25), (0.93, 0.75)], [(0.93, 0.25), (0.07, 0.75)]],
    "divide": [[(0.05, 0.5), (0.95, 0.5)], [(0.5, 0.15), (0.5, 0.2)], [(0.5, 0.8), (0.5, 0.85)]],
    "@": [arc(0.5, 0.5, 0.2, 0.2, 0, 360) + arc(0.5, 0.5, 0.48, 0.48, 0, 320, 20)],
    "&": [[(0.95, 1), *arc(0.42, 0.25, 0.2, 0.22, 60, 300), (0.1, 0.75),
           *arc(0.35, 0.75, 0.25, 0.22, 180, 60), (0.9, 0.45)]],
}

DOODLES: dict[str, list[Stroke]] = {
    "house": [[(0.1, 0.45), (0.1, 1), (0.9, 1), (0.9, 0.45), (0.1, 0.45)],
              [(0.05, 0.5), (0.5, 0), (0.95, 0.5)], [(0.4, 1), (0.4, 0.7), (0.6, 0.7), (0.6, 1)]],
    "sun": [arc(0.5, 0.5, 0.25, 0.25, 0, 360)]
    + [[(0.5 + 0.32 * np.cos(a), 0.5 + 0.32 * np.sin(a)),
        (0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a))] for a in np.linspace(0, 2 * np.pi, 9)[:-1]],
    "smiley": [arc(0.5, 0.5, 0.5, 0.5, 0, 360, 24), [(0.33, 0.33), (0.33, 0.4)],
               [(0.67, 0.33), (0.67, 0.4)], arc(0.5, 0.55, 0.25, 0.2, 20, 160)],
    "tree": [[(0.42, 1), (0.42, 0.6)], [(0.58, 1), (0.58, 0.6)],
             arc(0.5, 0.35, 0.4, 0.32, 100, 440, 24)],
    "fish": [arc(0.4, 0.5, 0.38, 0.25, 0, 360, 20),
             [(0.75, 0.5), (1, 0.25), (1, 0.75), (0.75, 0.5)], [(0.2, 0.42), (0.2, 0.45)]],
    "star": [[(0.5 + 0.5 * np.sin(a), 0.5 - 0.5 * np.cos(a))
              for a in np.deg2rad(np.arange(0, 721, 144))]],
    "cloud": [arc(0.25, 0.6, 0.2, 0.2, 90, 270) + arc(0.45, 0.4, 0.22, 0.22, 180, 330)
              + arc(0.72, 0.5, 0.22, 0.22, 240, 450) + [(0.25, 0.8)]],
    "flower": [arc(0.5, 0.5, 0.12, 0.12, 0, 360)] + [
        arc(0.5 + 0.3 * np.cos(a), 0.5 + 0.3 * np.sin(a), 0.15, 0.15, 0, 360)
        for a in np.linspace(0, 2 * np.pi, 7)[:-1]],
}

# Digits in printed styles, as strokes: (label, style, strokes).
DIGITS: list[tuple[int, str, list[Stroke]]] = [
    (0, "plain", [arc(0.5, 0.5, 0.4, 0.5, -90, 270, 24)]),
    (0, "slashed", [arc(0.5, 0.5, 0.4, 0.5, -90, 270, 24), [(0.8, 0.1), (0.2, 0.9)]]),
    (1, "plain", [[(0.5, 0), (0.5, 1)]]),
    (1, "serif", [[(0.25, 0.2), (0.5, 0), (0.5, 1)], [(0.25, 1), (0.75, 1)]]),
    (1, "flagged", [[(0.3, 0.22), (0.55, 0), (0.55, 1)]]),
    (2, "plain", [[*arc(0.5, 0.3, 0.4, 0.3, 200, 380), (0.1, 1), (0.95, 1)]]),
    (2, "z-like", [[(0.1, 0), (0.9, 0), (0.1, 1), (0.9, 1)]]),
    (3, "plain", [arc(0.45, 0.27, 0.4, 0.25, 200, 450) + arc(0.45, 0.73, 0.45, 0.27, 270, 520)]),
    (3, "flat-top", [[(0.1, 0), (0.9, 0), (0.4, 0.42), *arc(0.45, 0.7, 0.45, 0.3, 270, 520)]]),
    (4, "closed", [[(0.75, 1), (0.75, 0), (0.05, 0.7), (1, 0.7)]]),
    (4, "open", [[(0.3, 0), (0.1, 0.65), (0.95, 0.65)], [(0.7, 0.3), (0.7, 1)]]),
    (5, "plain", [[(0.85, 0), (0.2, 0), (0.15, 0.45), *arc(0.45, 0.68, 0.45, 0.32, 230, 500)]]),
    (6, "plain", [arc(0.55, 0.45, 0.4, 0.45, 290, 180, 12) + arc(0.5, 0.7, 0.38, 0.3, 180, 540)]),
    (7, "plain", [[(0.05, 0), (0.95, 0), (0.35, 1)]]),
    (7, "barred", [[(0.05, 0), (0.95, 0), (0.35, 1)], [(0.35, 0.5), (0.85, 0.5)]]),
    (7, "serif", [[(0.05, 0.15), (0.05, 0), (0.95, 0), (0.45, 1)]]),
    (8, "plain", [arc(0.5, 0.27, 0.32, 0.27, 90, 450) + arc(0.5, 0.73, 0.4, 0.27, -90, 270)]),
    (9, "plain", [[*arc(0.5, 0.3, 0.38, 0.3, 0, 360), (0.88, 0.3), (0.8, 1)]]),
    (9, "curled", [arc(0.5, 0.3, 0.38, 0.3, 0, 360) + arc(0.5, 0.55, 0.38, 0.45, 0, 110)]),
]
NONDIGIT_KINDS = ("letter", "symbol", "doodle", "crossed-out", "scribble")
# Straight segments between the points of a 3x3 grid (a sixteen-segment display): what
# letters and symbols are built of. A glyph is a random few of them; DIGIT_SEGMENTS are
# digits as such displays draw them, and a glyph two segments or less from any is redrawn.
SEGMENTS: dict[str, Stroke] = {
    "T1": [(0, 0), (0.5, 0)], "T2": [(0.5, 0), (1, 0)], "M1": [(0, 0.5), (0.5, 0.5)],
    "M2": [(0.5, 0.5), (1, 0.5)], "B1": [(0, 1), (0.5, 1)], "B2": [(0.5, 1), (1, 1)],
    "L1": [(0, 0), (0, 0.5)], "L2": [(0, 0.5), (0, 1)], "C1": [(0.5, 0), (0.5, 0.5)],
    "C2": [(0.5, 0.5), (0.5, 1)], "R1": [(1, 0), (1, 0.5)], "R2": [(1, 0.5), (1, 1)],
    "TL": [(0.5, 0.5), (0, 0)], "TR": [(0.5, 0.5), (1, 0)], "BL": [(0.5, 0.5), (0, 1)],
    "BR": [(0.5, 0.5), (1, 1)],
}
DIGIT_SEGMENTS = [frozenset(d.split()) for d in (
    "T1 T2 R1 R2 B1 B2 L1 L2", "T1 T2 R1 R2 B1 B2 L1 L2 TR BL",  # 0
    "R1 R2", "C1 C2", "L1 L2", "C1 C2 TL", "R1 R2 TR", "C1 C2 B1 B2",  # 1
    "T1 T2 R1 M1 M2 L2 B1 B2", "T1 T2 R1 BL B1 B2", "T1 T2 TR BL B1 B2",  # 2
    "T1 T2 R1 R2 B1 B2 M1 M2", "T1 T2 R1 R2 B1 B2 M2", "T1 T2 TR R2 B1 B2 M2",  # 3
    "L1 M1 M2 R1 R2", "L1 M1 M2 C1 C2", "TL M1 M2 R1 R2", "BL M1 M2 TR R2", "M1 M2 TR R1 R2",
    "T1 T2 L1 M1 M2 R2 B1 B2", "T1 T2 L1 M1 BR B1 B2",  # 5
    "T1 T2 L1 L2 B1 B2 R2 M1 M2", "L1 L2 B1 B2 R2 M1 M2",  # 6
    "T1 T2 R1 R2", "T1 T2 TR BL", "T1 T2 TR C2", "T1 T2 R1 R2 M1 M2",  # 7
    "T1 T2 R1 R2 B1 B2 L1 L2 M1 M2",  # 8
    "T1 T2 L1 M1 M2 R1 R2", "T1 T2 L1 M1 M2 R1 R2 B1 B2", "T1 T2 L1 M1 M2 R1 BL",  # 9
)]
DIGIT_STYLES = ("plain", "printed", "small off-centre", "thick pen", "thin pen", "multi-stroke")
# The classifiers' subsets. They train on the other faces in the training styles; a drawing
# is held out when its face or its style is, so each held-out digit is new in one way at
# least: a printed face never shown (each has a sibling that was: a footed 1, a barred 7,
# a closed 4...), or a size and pen never shown.
HELD_OUT_FACES = frozenset({(1, "flagged"), (3, "flat-top"), (4, "open"), (7, "serif"),
                            (9, "curled")})
TRAINING_STYLES = ("plain", "printed", "thick pen", "multi-stroke")
HELD_OUT_STYLES = ("printed", "small off-centre", "thin pen")
SUBSETS = ("all", "training", "held-out")


def _smooth(points: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Chaikin's corner cutting: a pen's rounded turns, ends kept."""
    for _ in range(rounds):
        if len(points) < 3:
            return points
        q = 0.75 * points[:-1] + 0.25 * points[1:]
        r = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.vstack([points[:1], np.stack([q, r], 1).reshape(-1, 2), points[-1:]])
    return points


def _hand(strokes: list[Stroke], rng: np.random.Generator, jitter: float) -> list[np.ndarray]:
    """The glyph as a hand writes it: each point nudged (a wobble that drifts along the
    stroke, not white noise), densified so that straight lines wobble too, then smoothed."""
    out = []
    for s in strokes:
        p = np.asarray(s, float)
        if len(p) == 2:  # a straight line: points along it, so that it can bend
            p = p[0] + np.linspace(0, 1, 5)[:, None] * (p[1] - p[0])
        drift = np.cumsum(rng.normal(0, jitter, p.shape), 0) * 0.6 + rng.normal(0, jitter, p.shape)
        out.append(_smooth(p + drift))
    return out


def render(strokes: list[Stroke], rng: np.random.Generator, *, size: int | None = None,
           share: tuple[float, float] = (0.35, 0.85), pen: tuple[float, float] = (0.012, 0.05),
           jitter: float = 0.02, split: bool = False) -> np.ndarray:
    """Strokes in the unit box -> (S, S) uint8 drawing, black on white: jittered, slanted,
    scaled to `share` of the canvas, placed at random, drawn with a pen `pen` of its side;
    with `split`, each stroke drawn in two pieces that meet (lifted and put down again)."""
    size = int(size or rng.choice(CANVAS_SIZES))
    lines = _hand(strokes, rng, jitter)
    if split:
        lines = [piece for line in lines for piece in
                 ((line[:len(line) // 2 + 1], line[len(line) // 2:]) if len(line) > 3 else (line,))]
    angle, shear = np.deg2rad(rng.uniform(-12, 12)), rng.uniform(-0.25, 0.25)
    aspect = rng.uniform(0.75, 1.15)
    m = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) \
        @ np.array([[aspect, -shear], [0, 1]])
    pts = [line @ m.T for line in lines]
    allp = np.vstack(pts)
    lo, hi = allp.min(0), allp.max(0)
    scale = rng.uniform(*share) * size / max(hi - lo)
    width = max(1, round(rng.uniform(*pen) * size))
    span = (hi - lo) * scale
    room = np.maximum(size - span - 2 * width, 0)
    offset = width + rng.uniform(0, 1, 2) * room
    canvas = np.full((size, size), 255, np.uint8)
    for p in pts:
        xy = np.rint(((p - lo) * scale + offset) * 16).astype(np.int32)
        cv2.polylines(canvas, [xy], False, 0, width, cv2.LINE_AA, 4)
    return canvas


def _scribble(rng: np.random.Generator) -> list[Stroke]:
    kind = rng.choice(["loops", "zigzag", "hatching", "spiral", "blob", "tangle"])
    if kind == "loops":
        t = np.linspace(0, rng.uniform(3, 6) * 2 * np.pi, 120)
        r = rng.uniform(0.08, 0.2)
        return [list(zip(t / t[-1] + r * np.cos(t), 0.5 + r * np.sin(t)))]
    if kind == "zigzag":
        n = int(rng.integers(5, 12))
        return [[(i / n, float(i % 2)) for i in range(n + 1)]]
    if kind == "hatching":
        n, slope = int(rng.integers(4, 9)), rng.uniform(-0.5, 0.5)
        return [[(i / n, 0), (i / n + slope, 1)] for i in range(n + 1)]
    if kind == "spiral":
        t = np.linspace(0, rng.uniform(2.5, 5) * 2 * np.pi, 150)
        return [list(zip(0.5 + 0.5 * t / t[-1] * np.cos(t), 0.5 + 0.5 * t / t[-1] * np.sin(t)))]
    if kind == "blob":  # a filled shape, coloured in back and forth
        ys = np.linspace(0, 1, 14)
        return [[(float(rng.uniform(0, 0.2)) if i % 2 else float(rng.uniform(0.8, 1)), y)
                 for i, y in enumerate(ys)]]
    return [[tuple(p) for p in rng.uniform(0, 1, (int(rng.integers(6, 14)), 2))]]


def _crossed_out(rng: np.random.Generator) -> list[Stroke]:
    _, _, digit = DIGITS[int(rng.integers(len(DIGITS)))]
    if rng.random() < 0.5:  # overwritten: another digit on top of it
        _, _, other = DIGITS[int(rng.integers(len(DIGITS)))]
        return digit + [[(x + 0.15, y) for x, y in s] for s in other]
    cross = rng.choice(["x", "line", "scratch"])
    if cross == "x":
        return [*digit, [(-0.1, -0.05), (1.1, 1.05)], [(1.1, -0.05), (-0.1, 1.05)]]
    if cross == "line":
        return [*digit, [(-0.2, 0.5), (1.2, 0.45)]]
    return [*digit, [(-0.1 + 1.2 * (i % 2), 0.2 + 0.6 * i / 5) for i in range(6)]]


def _glyph(rng: np.random.Generator) -> list[Stroke]:
    """A letter-like glyph: 3-6 segments of the grid at random, chained into strokes
    where they meet, never within two segments of a digit."""
    names = list(SEGMENTS)
    while True:
        picked = frozenset(rng.choice(names, int(rng.integers(3, 7)), replace=False).tolist())
        if all(len(picked ^ d) > 2 for d in DIGIT_SEGMENTS):
            break
    left = [list(SEGMENTS[k]) for k in sorted(picked)]
    strokes = []
    while left:
        line = left.pop(0)
        joined = True
        while joined:  # extend the line from its end while a segment starts or ends there
            joined = False
            for seg in left:
                if line[-1] in seg:
                    left.remove(seg)
                    line.append(seg[1] if seg[0] == line[-1] else seg[0])
                    joined = True
                    break
        strokes.append(line)
    return strokes


def nondigit(rng: np.random.Generator, kind: str) -> np.ndarray:
    """One drawing of `kind` (NONDIGIT_KINDS)."""
    return named_nondigit(rng, kind)[0]


def named_nondigit(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, str]:
    """One drawing of `kind` and what it is: the letter, symbol or doodle drawn (the kind
    for the others), the same drawing `nondigit` makes from the same generator state."""
    named = {"letter": LETTERS, "symbol": SYMBOLS, "doodle": DOODLES}.get(kind)
    made = {"crossed-out": _crossed_out, "scribble": _scribble, "glyph": _glyph}.get(kind)
    if named is not None:
        name = str(rng.choice(list(named)))
        strokes = named[name]
    elif made is not None:
        name, strokes = kind, made(rng)
    else:
        raise ValueError(f"unknown kind {kind!r}; choose from {(*NONDIGIT_KINDS, 'glyph')}")
    return render(strokes, rng), name


def _faces(style: str, subset: str) -> list[tuple[int, str, list[Stroke]]]:
    """The faces `style` draws in `subset` (SUBSETS)."""
    allowed = {"all": DIGIT_STYLES, "training": TRAINING_STYLES, "held-out": HELD_OUT_STYLES}
    if subset not in allowed:
        raise ValueError(f"unknown subset {subset!r}; choose from {SUBSETS}")
    if style not in allowed[subset]:
        which = "" if subset == "all" else f"{subset} "
        raise ValueError(f"unknown {which}style {style!r}; choose from {allowed[subset]}")
    faces = {"plain": [d for d in DIGITS if d[1] == "plain"],
             "printed": [d for d in DIGITS if d[1] != "plain"]}.get(style, DIGITS)
    if subset == "training":
        return [d for d in faces if d[:2] not in HELD_OUT_FACES]
    if subset == "held-out" and style == "printed":  # the other held-out styles are new enough
        return [d for d in faces if d[:2] in HELD_OUT_FACES]
    return faces


def digit(rng: np.random.Generator, style: str, subset: str = "all"
          ) -> tuple[np.ndarray, int, str]:
    """One digit drawing in `style` (DIGIT_STYLES) from the faces of `subset` (SUBSETS):
    (drawing, label, typeface)."""
    faces = _faces(style, subset)
    label, face, strokes = faces[int(rng.integers(len(faces)))]
    options = {"small off-centre": {"share": (0.12, 0.25)},
               "thick pen": {"pen": (0.06, 0.1)},
               "thin pen": {"pen": (0.003, 0.008)},
               "multi-stroke": {"split": True}}.get(style, {})
    return render(strokes, rng, **options), label, face


def nondigit_drawings(n: int, seed: int = 0, kinds: tuple[str, ...] = NONDIGIT_KINDS
                      ) -> Iterator[tuple[np.ndarray, str]]:
    """`n` (drawing, kind) pairs cycling through `kinds`, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield nondigit(rng, kinds[i % len(kinds)]), kinds[i % len(kinds)]


def digit_drawings(n: int, seed: int = 0, styles: tuple[str, ...] = DIGIT_STYLES,
                   subset: str = "all") -> Iterator[tuple[np.ndarray, int, str]]:
    """`n` (drawing, label, style) triples cycling through `styles`, from `seed`, in the
    faces of `subset` (SUBSETS)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        style = styles[i % len(styles)]
        drawing, label, _ = digit(rng, style, subset)
        yield drawing, label, style


def training_digits(n: int, seed: int) -> Iterator[tuple[np.ndarray, int, str]]:
    """Digits the classifiers may learn from: training faces in the training styles."""
    return digit_drawings(n, seed, TRAINING_STYLES, "training")


def held_out_digits(n: int, seed: int) -> Iterator[tuple[np.ndarray, int, str]]:
    """Digits the classifiers are measured on: a held-out face or a held-out style."""
    return digit_drawings(n, seed, HELD_OUT_STYLES, "held-out")
