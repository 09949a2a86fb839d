"""From a drawing (an image array of any size and kind) to a 28x28 MNIST-like input.

MNIST digits are white on black, written with a pen about 0.12 times the digit's height
(median measured on the training set), scaled so the longer side is 20 px and placed in
28x28 with the centre of mass at pixel (14, 14). A mouse drawing is none of that: a thin
stroke at any size and place, often black on white, in any pen colour. Each step below
undoes one of those differences, because a network trained on MNIST only knows MNIST.

Everything here runs on the working-resolution image from engine/image.py (long side at
most 512 px), so no step's cost depends on the size of the upload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.image import DrawingError, working_image

__all__ = ["DrawingError", "Preprocessed", "ink_map", "naive", "preprocess", "stroke_width"]

MNIST_STROKE_RATIO = 0.117  # stroke width / longer side of the digit, MNIST median
MNIST_BOX, MNIST_SIZE, MNIST_CENTRE = 20, 28, 14.0
INK_THRESHOLD = 0.3  # of the strongest contrast on the canvas
MIN_CONTRAST = 4 / 255  # less than this against the paper is paper (8-bit rounding, grain)
TRANSPARENT_SHARE = 0.01  # a canvas this see-through is a transparent one; less is artefacts
MIN_EXTENT = 8  # working-resolution px: ink spanning less cannot be read as a digit
DOT_RATIO = 2.5  # a mark spanning less than this times its pen width is a dot, not a stroke
FULL_GRID, FULL_SHARE = 16, 0.9  # "full": ink in 90% of the cells of a 16x16 grid
FRAME_SHARE, FRAMED_SIZE = 0.9, 0.25  # see _without_frame
MAX_COMPONENTS = 32  # the largest pieces of ink decide "stray"; specks cannot add work


@dataclass(frozen=True)
class Preprocessed:
    image: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black
    status: str  # "ok", "blank", "stray" or "full"
    message: str = ""
    # with preprocess(..., stages=True): each step's image, white ink on black, in order
    stages: dict[str, np.ndarray] | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def x(self) -> np.ndarray:
        """The model input: a batch of one, (1, 28, 28)."""
        return self.image[None]


def _paper(image: np.ndarray) -> np.ndarray:
    """The paper's colour: the median of the canvas, which is mostly paper (a frame drawn
    along the edge or a digit touching it moves an edge median, not this one). A regular
    subsample of at most about 128x128 pixels is enough for a median and keeps it cheap."""
    step = max(1, max(image.shape[:2]) // 128)
    return np.median(image[::step, ::step].reshape(-1, image.shape[-1]), axis=0)


def ink_map(drawing) -> np.ndarray:
    """(h, w) float32 at working resolution: 1 where the strongest ink is, 0 on the paper.

    Ink is read by its contrast against the paper, in any channel and either direction, and
    scaled by the strongest contrast on the canvas: a light pen (200 on 255, 5 on 0) or a
    yellow one reads like black on white. On a transparent canvas, what is painted is ink.
    """
    image = working_image(drawing)
    if image.shape[-1] == 4:
        alpha = image[..., 3]
        see_through = alpha < 0.5
        if see_through.mean() >= TRANSPARENT_SHARE:
            contrast = alpha - float(np.median(alpha[see_through]))
            return _scaled(contrast)
        # An opaque picture, as a browser shows it on a white page; a few see-through
        # pixels in it are artefacts, not a transparent canvas.
        image = image[..., :3] * alpha[..., None] + (1 - alpha[..., None])
    paper = _paper(image)
    contrast = np.abs(image[..., 0] - paper[0])
    for c in range(1, image.shape[-1]):  # a coloured pen may differ in one channel only
        np.maximum(contrast, np.abs(image[..., c] - paper[c]), out=contrast)
    return _scaled(contrast)


def _scaled(contrast: np.ndarray) -> np.ndarray:
    """Contrast divided by the strongest on the canvas; nothing if that is too faint."""
    strongest = float(contrast.max())
    if strongest < MIN_CONTRAST:
        return np.zeros(contrast.shape, np.float32)
    return (contrast / strongest).clip(0, 1).astype(np.float32)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask, as 2 * area / perimeter (exact for long strokes)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(mask.sum()) / perimeter if perimeter else 0.0


def _covers_canvas(mask: np.ndarray) -> bool:
    """Ink in nearly every part of the canvas: a scribbled-over pad, or noise."""
    rows, cols = min(FULL_GRID, mask.shape[0]), min(FULL_GRID, mask.shape[1])
    cells = cv2.resize(mask.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
    return float((cells > 0).mean()) >= FULL_SHARE


def _without_frame(mask: np.ndarray) -> np.ndarray:
    """The ink with any frame around the drawing removed.

    A digit never holds a separate, digit-sized drawing inside one of its own loops, so a
    closed piece of ink that encloses (nearly) all the other ink, when that ink spans at
    least a quarter of it, is a frame: a box or circle drawn round the digit, the edge of a
    scan. Small marks inside a loop (a dotted zero, a speck in a 6) leave the loop alone.
    Judging by the edge of the canvas instead would also drop digits drawn up to the edge.
    """
    for _ in range(3):  # a frame inside a frame
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
        if n < 3:
            return mask
        boxes = stats[1:, cv2.CC_STAT_WIDTH] * stats[1:, cv2.CC_STAT_HEIGHT]
        frame_label = 1 + int(np.argmax(boxes))
        frame = labels == frame_label
        outline, _ = cv2.findContours(frame.astype(np.uint8), cv2.RETR_EXTERNAL,
                                      cv2.CHAIN_APPROX_SIMPLE)
        inside = np.zeros(mask.shape, np.uint8)
        cv2.drawContours(inside, outline, -1, 1, cv2.FILLED)
        rest = mask & ~frame
        enclosed = rest & inside.astype(bool)
        if enclosed.sum() < FRAME_SHARE * rest.sum():
            return mask
        ew, eh = cv2.boundingRect(enclosed.astype(np.uint8))[2:]
        fw, fh = stats[frame_label, cv2.CC_STAT_WIDTH], stats[frame_label, cv2.CC_STAT_HEIGHT]
        if max(ew, eh) < FRAMED_SIZE * max(fw, fh):
            return mask
        mask = enclosed
    return mask


def _only_dots(mask: np.ndarray) -> bool:
    """No piece of the ink is a stroke: each is too small to read, or a dot (a click).

    Judged in working-resolution pixels and against each piece's own pen width, not the
    canvas: a click of the app's brush (a 24 px dot on the 280 px pad) is a dot, a 100 px
    digit on a 4096 px canvas (12 working px) is a digit. A disc spans 2 pen widths (as
    2 * area / perimeter), a 10 px drag of the brush 2.5, the boldest MNIST test digit 2.6.
    """
    if max(cv2.boundingRect(mask.astype(np.uint8))[2:]) < MIN_EXTENT:
        return True
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                           connectivity=8)
    for i in 1 + np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:MAX_COMPONENTS]:
        x, y, w, h = stats[i, :4]
        if max(w, h) >= MIN_EXTENT and \
                max(w, h) >= DOT_RATIO * stroke_width(labels[y:y + h, x:x + w] == i):
            return False
    return True


def _thickened(crop: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """`crop` with every stroke grown by `radius` px, and `crop` itself in the same (larger)
    frame, so that the two compare pixel for pixel.

    The growth is a soft-edged disc around every ink pixel, from a distance transform: its
    cost is linear in the pixels whatever the pen, where a dilation's grows with the kernel.
    """
    padded = np.pad(crop, math.ceil(radius) + 1)
    paper = (padded <= INK_THRESHOLD).astype(np.uint8)
    distance = cv2.distanceTransform(paper, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    # The exact transform's distances are square roots of whole numbers, but OpenCV rounds
    # some an ulp one way or the other from call to call (its vector and scalar paths
    # differ, and which runs depends on a buffer's alignment): the square, rounded back to
    # its whole number, gives the same root every time, so a drawing gets one answer.
    distance = np.sqrt(np.rint(np.square(distance, dtype=np.float64))).astype(np.float32)
    grown = np.maximum(padded, (radius + 0.5 - distance).clip(0, 1))
    x, y, w, h = cv2.boundingRect((grown > INK_THRESHOLD).astype(np.uint8))
    return grown[y:y + h, x:x + w], padded[y:y + h, x:x + w]


def _centre(img: np.ndarray) -> np.ndarray:
    """Shift (sub-pixel) so the centre of mass lands on MNIST's (14, 14)."""
    total = img.sum()
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    cy, cx = (img * ys).sum() / total, (img * xs).sum() / total
    m = np.float32([[1, 0, MNIST_CENTRE - cx], [0, 1, MNIST_CENTRE - cy]])
    return cv2.warpAffine(img, m, (MNIST_SIZE, MNIST_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def preprocess(drawing, thicken: bool = True, stages: bool = False) -> Preprocessed:
    """Drawing -> 28x28 MNIST-like image, with a status for blank, stray or full canvases.

    With `stages`, the result also carries the image after each step ("as drawn" at the
    working resolution, "cropped", "thickened (pen 4 → 20 px)", "scaled to 20 px",
    "centred"), so a wrong answer can be traced to the step that lost the digit. The
    "cropped" and "thickened" images share one frame, so that they compare pixel for pixel;
    a pen already as thick as MNIST's is not thickened, and the "cropped" step says so.
    """
    ink = ink_map(drawing)
    seen = {"as drawn": ink} if stages else None
    mask = ink > INK_THRESHOLD
    blank = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    if not mask.any():
        return Preprocessed(blank, "blank", "Draw a digit.")
    if _covers_canvas(mask):
        return Preprocessed(blank, "full", "The canvas is covered all over; clear it and "
                                           "draw one digit.")
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))  # later steps need only the ink
    mask, ink = np.pad(mask[y:y + h, x:x + w], 1), np.pad(ink[y:y + h, x:x + w], 1)
    mask = _without_frame(mask)
    if _only_dots(mask):
        return Preprocessed(blank, "stray", "That is only a dot, or too small to read; "
                                            "draw a whole digit.")
    ink = np.where(mask, ink, 0).astype(np.float32)  # drop faint noise and paper texture
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    crop = ink[y:y + h, x:x + w]
    # Strokes grow to MNIST's pen for this digit's size; a pen already about as thick (most
    # mouse drawings on the app's pad) stays, and its stage says so rather than repeat.
    pen, mnist_pen = (stroke_width(mask), MNIST_STROKE_RATIO * max(w, h)) if thicken else (0, 0)
    if round(mnist_pen - pen) >= 2:
        crop, before = _thickened(crop, (mnist_pen - pen) / 2)
        if seen is not None:  # in one frame, so that the growth can be shown
            seen["cropped"], seen[f"thickened (pen {pen:.0f} → {mnist_pen:.0f} px)"] = before, crop
    elif seen is not None:
        seen[f"cropped (pen {pen:.0f} px, MNIST's {mnist_pen:.0f}: not thickened)"
             if thicken else "cropped"] = crop
    h, w = crop.shape
    scale = MNIST_BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    top, left = (MNIST_SIZE - size[1]) // 2, (MNIST_SIZE - size[0]) // 2
    canvas[top:top + size[1], left:left + size[0]] = small
    image = _centre(canvas)
    peak = image.max()
    image = (image / peak if peak > 0 else image).clip(0, 1).astype(np.float32)
    if seen is not None:
        seen["scaled to 20 px"], seen["centred"] = canvas, image
    return Preprocessed(image, "ok", stages=seen)


def naive(drawing) -> np.ndarray:
    """The baseline the pipeline is measured against: invert if needed, resize to 28x28."""
    return cv2.resize(ink_map(drawing), (MNIST_SIZE, MNIST_SIZE), interpolation=cv2.INTER_AREA)
