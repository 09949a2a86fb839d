"""Seeded OpenCV augmentation of 28x28 digits: small affine moves and pen-width changes.

MNIST digits are centred and written with one pen; digits drawn with a mouse are not.
Random shifts, rotations, scales and shears, plus dilating or eroding the strokes, teach
the network the variation it meets in the app. Every draw comes from the caller's
generator, so the same seed gives the same images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

_KERNEL = np.ones((2, 2), np.uint8)


@dataclass(frozen=True)
class Augment:
    max_shift: float = 2.0  # pixels
    max_rotate: float = 12.0  # degrees
    scale: tuple[float, float] = (0.9, 1.1)
    max_shear: float = 0.15  # x += shear * y
    p_thicker: float = 0.15
    p_thinner: float = 0.15

    def to_dict(self) -> dict:
        return asdict(self)


def affine_matrix(angle: float, scale: float, shear: float, shift: tuple[float, float],
                  size: int = 28) -> np.ndarray:
    """2x3 matrix rotating, scaling and shearing about the image centre, then shifting."""
    c = (size - 1) / 2.0
    rot = cv2.getRotationMatrix2D((c, c), angle, scale)
    rot = np.vstack([rot, [0, 0, 1]])
    sh = np.array([[1, shear, -shear * c], [0, 1, 0], [0, 0, 1]])
    m = (sh @ rot)[:2]
    m[:, 2] += shift
    return m


def augment(images: np.ndarray, rng: np.random.Generator, cfg: Augment) -> np.ndarray:
    """Return augmented copies of `images` (N, 28, 28) uint8."""
    n, h, w = images.shape
    angles = rng.uniform(-cfg.max_rotate, cfg.max_rotate, n)
    scales = rng.uniform(cfg.scale[0], cfg.scale[1], n)
    shears = rng.uniform(-cfg.max_shear, cfg.max_shear, n)
    shifts = rng.uniform(-cfg.max_shift, cfg.max_shift, (n, 2))
    pen = rng.random(n)
    out = np.empty_like(images)
    for i in range(n):
        img = images[i]
        if pen[i] < cfg.p_thicker:
            img = cv2.dilate(img, _KERNEL)
        elif pen[i] < cfg.p_thicker + cfg.p_thinner:
            thin = cv2.erode(img, _KERNEL)
            if thin.sum() > 0.4 * img.sum():  # never erase a thin digit
                img = thin
        m = affine_matrix(angles[i], scales[i], shears[i], shifts[i], w)
        out[i] = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out
