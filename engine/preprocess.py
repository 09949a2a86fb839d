"""From a drawing (an image array of any size and kind) to a 28x28 MNIST-like input.

MNIST digits are white on black, written with a pen about 0.12 times the digit's height
(median measured on the training set), scaled so the longer side is 20 px and placed in
28x28 with the centre of mass at pixel (14, 14). A mouse drawing is none of that: a thin
stroke at any size and place, often black on white. Each step below undoes one of those
differences, because a network trained on MNIST only knows MNIST.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

MNIST_STROKE_RATIO = 0.117  # stroke width / longer side of the digit, MNIST median
MNIST_BOX, MNIST_SIZE, MNIST_CENTRE = 20, 28, 14.0
INK_THRESHOLD = 0.3
MAX_SIDE = 4096
STRAY_FRACTION = 0.03  # ink spanning less than this of the canvas is a stray mark


class DrawingError(ValueError):
    """Input that is not an image this pipeline can read; the message says why."""


@dataclass(frozen=True)
class Preprocessed:
    image: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black
    status: str  # "ok", "blank", "stray" or "full"
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def x(self) -> np.ndarray:
        """The model input: a batch of one, (1, 28, 28)."""
        return self.image[None]


def _as_array(drawing) -> np.ndarray:
    """The drawing as a NumPy array; None (a cleared pad) is a blank canvas."""
    if drawing is None:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    if isinstance(drawing, (str, bytes, Mapping)):
        raise DrawingError(f"expected an image array, got {type(drawing).__name__}")
    try:
        array = np.asarray(drawing)
    except Exception as e:  # any object numpy cannot read
        raise DrawingError(f"cannot read {type(drawing).__name__} as an image: {e}") from e
    if array.dtype == object:
        raise DrawingError(f"cannot read {type(drawing).__name__} as an image")
    return array


def _unit(array: np.ndarray) -> np.ndarray:
    """Any numeric dtype -> float32 in [0, 1]."""
    if array.dtype == bool:
        return array.astype(np.float32)
    if array.dtype.kind in "ui":
        return (array / np.iinfo(array.dtype).max).astype(np.float32)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise DrawingError("image contains NaN or infinite values")
        top = float(array.max(initial=0))
        return (array / 255.0 if top > 1.0 else array).clip(0, 1).astype(np.float32)
    raise DrawingError(f"unsupported image dtype {array.dtype}")


def to_rgba(array: np.ndarray) -> np.ndarray:
    """Any (H, W), (H, W, 1/3/4) image -> float32 RGBA in [0, 1]."""
    a = _unit(array)
    if a.ndim == 2:
        a = a[..., None]
    channels = a.shape[-1]
    if channels == 1:
        return np.concatenate([a, a, a, np.ones_like(a)], axis=-1)
    if channels == 3:
        return np.concatenate([a, np.ones_like(a[..., :1])], axis=-1)
    if channels == 4:
        return a
    raise DrawingError(f"unsupported number of channels {channels}")


def ink_map(drawing) -> np.ndarray:
    """(H, W) float32, 1 where there is ink, 0 on the background, whatever the input's form."""
    array = _as_array(drawing)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise DrawingError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, "
                           f"got shape {array.shape}")
    h, w = array.shape[:2]
    if min(h, w) < 8 or max(h, w) > MAX_SIDE:
        raise DrawingError(f"image of {w}x{h} pixels is outside 8..{MAX_SIDE} per side")
    rgba = to_rgba(array)
    alpha = rgba[..., 3]
    if alpha.min() < 0.99 and alpha.max() > 0:
        # Transparent canvas (an API client's PNG): whatever was painted is ink.
        return alpha.astype(np.float32)
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    # Ink is whatever differs from the paper, in either direction.
    ink = (background - grey) / background if background > 0.5 else \
        (grey - background) / (1 - background)
    return ink.clip(0, 1).astype(np.float32)


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask, as 2 * area / perimeter (exact for long strokes)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(mask.sum()) / perimeter if perimeter else 0.0


def _centre(img: np.ndarray) -> np.ndarray:
    """Shift (sub-pixel) so the centre of mass lands on MNIST's (14, 14)."""
    total = img.sum()
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    cy, cx = (img * ys).sum() / total, (img * xs).sum() / total
    m = np.float32([[1, 0, MNIST_CENTRE - cx], [0, 1, MNIST_CENTRE - cy]])
    return cv2.warpAffine(img, m, (MNIST_SIZE, MNIST_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def preprocess(drawing, thicken: bool = True) -> Preprocessed:
    """Drawing -> 28x28 MNIST-like image, with a status for blank, stray or full canvases."""
    ink = ink_map(drawing)
    mask = ink > INK_THRESHOLD
    blank = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    if not mask.any():
        return Preprocessed(blank, "blank", "Draw a digit.")
    if mask.mean() > 0.9:
        return Preprocessed(blank, "full", "The canvas is all ink; clear it and draw a digit.")
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    if max(w, h) < max(3.0, STRAY_FRACTION * max(ink.shape)):
        return Preprocessed(blank, "stray", "That is only a dot; draw a whole digit.")
    ink = np.where(mask, ink, 0).astype(np.float32)  # drop faint noise and paper texture
    if thicken:
        # Thicken thin strokes to MNIST's pen, relative to this digit's own size.
        missing = MNIST_STROKE_RATIO * max(w, h) - stroke_width(mask)
        k = round(missing)
        if k >= 2:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
            ink = cv2.dilate(ink, kernel)
            x, y, w, h = cv2.boundingRect((ink > INK_THRESHOLD).astype(np.uint8))
    crop = ink[y:y + h, x:x + w]
    scale = MNIST_BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    top, left = (MNIST_SIZE - size[1]) // 2, (MNIST_SIZE - size[0]) // 2
    canvas[top:top + size[1], left:left + size[0]] = small
    image = _centre(canvas)
    peak = image.max()
    return Preprocessed((image / peak if peak > 0 else image).clip(0, 1).astype(np.float32),
                        "ok")


def naive(drawing) -> np.ndarray:
    """The baseline the pipeline is measured against: invert if needed, resize to 28x28."""
    return cv2.resize(ink_map(drawing), (MNIST_SIZE, MNIST_SIZE), interpolation=cv2.INTER_AREA)
