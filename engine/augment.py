"""Seeded OpenCV augmentation of 28x28 digits: small affine moves and pen-width changes.

MNIST digits are centred and written with one pen; digits drawn with a mouse are not.
Random shifts, rotations, scales and shears, plus dilating or eroding the strokes, teach
the network the variation it meets in the app. Every draw comes from the caller's
generator, so the same seed gives the same images.
"""

from __future__ import annotations

import math
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
    # Elastic distortion (Simard et al. 2003): a random displacement field smoothed by a
    # Gaussian of `elastic_sigma` px, scaled by `elastic_alpha` px. 0 turns it off (and
    # draws nothing, so recipes without it keep their random streams).
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


def affine_matrix(angle: float, scale: float, shear: float, shift: tuple[float, float],
                  size: int = 28) -> np.ndarray:
    """2x3 matrix rotating, scaling and shearing about the image centre, then shifting."""
    return affine_matrices(np.array([angle]), np.array([scale]), np.array([shear]),
                           np.array([shift], dtype=float), size)[0]


def affine_matrices(angles: np.ndarray, scales: np.ndarray, shears: np.ndarray,
                    shifts: np.ndarray, size: int = 28) -> np.ndarray:
    """(n, 2, 3) affine matrices, all at once: `sh @ rot`, then the shift.

    `rot` is cv2.getRotationMatrix2D's matrix built with its arithmetic (the same libm
    cos and sin, the same products), so each matrix is bit-identical to the one the
    per-image call made and a seed keeps giving the same warped digits.
    """
    n = len(angles)
    c = (size - 1) / 2.0
    rad = np.asarray(angles, np.float64) * (math.pi / 180)
    cos = np.fromiter(map(math.cos, rad), np.float64, n)  # libm's, as OpenCV's; not NumPy's
    sin = np.fromiter(map(math.sin, rad), np.float64, n)
    alpha, beta = cos * scales, sin * scales
    rot = np.zeros((n, 3, 3))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 0, 2] = alpha, beta, (1 - alpha) * c - beta * c
    rot[:, 1, 0], rot[:, 1, 1], rot[:, 1, 2] = -beta, alpha, beta * c + (1 - alpha) * c
    rot[:, 2, 2] = 1
    sh = np.zeros((n, 3, 3))
    sh[:, 0, 0] = sh[:, 1, 1] = sh[:, 2, 2] = 1
    sh[:, 0, 1], sh[:, 0, 2] = shears, -np.asarray(shears) * c
    m = (sh @ rot)[:, :2]
    m[:, :, 2] += shifts
    return m


def augment(images: np.ndarray, rng: np.random.Generator, cfg: Augment) -> np.ndarray:
    """Return augmented copies of `images` (N, 28, 28) uint8.

    The matrices are made for the whole batch at once; what is left per image is the pen
    change (on 30% of them) and the warp, written straight into the output.
    """
    n, h, w = images.shape
    angles = rng.uniform(-cfg.max_rotate, cfg.max_rotate, n)
    scales = rng.uniform(cfg.scale[0], cfg.scale[1], n)
    shears = rng.uniform(-cfg.max_shear, cfg.max_shear, n)
    shifts = rng.uniform(-cfg.max_shift, cfg.max_shift, (n, 2))
    pen = rng.random(n)
    fields = elastic_fields(rng, n, (h, w), cfg) if cfg.elastic_alpha > 0 else None
    grid = np.mgrid[0:h, 0:w].astype(np.float32)[::-1]  # (x, y) of every pixel
    matrices = affine_matrices(angles, scales, shears, shifts, w)
    pens = np.where(pen < cfg.p_thicker, 1, np.where(pen < cfg.p_thicker + cfg.p_thinner, 2, 0))
    out = np.empty_like(images)
    for i, (img, matrix, pen_change, dst) in enumerate(zip(images, matrices, pens.tolist(), out)):
        if pen_change == 1:
            img = cv2.dilate(img, _KERNEL)
        elif pen_change == 2:
            thin = cv2.erode(img, _KERNEL)
            if thin.sum() > 0.4 * img.sum():  # never erase a thin digit
                img = thin
        cv2.warpAffine(img, matrix, (w, h), dst=dst, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if fields is not None:
            out[i] = cv2.remap(out[i], grid[0] + fields[i, ..., 0], grid[1] + fields[i, ..., 1],
                               cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def elastic_fields(rng: np.random.Generator, n: int, size: tuple[int, int], cfg: Augment
                   ) -> np.ndarray:
    """(n, h, w, 2) smooth random displacements, in pixels.

    The Gaussian blur is separable, so on a small image it is two matrix products,
    G_h @ F @ G_w.T, for all fields at once (zero beyond the border, as Simard's).
    """
    h, w = size
    raw = rng.uniform(-1, 1, (n, 2, h, w)).astype(np.float32)
    smooth = _blur_matrix(h, cfg.elastic_sigma) @ raw @ _blur_matrix(w, cfg.elastic_sigma).T
    return (cfg.elastic_alpha * smooth).transpose(0, 2, 3, 1)


def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """The (size, size) matrix of a 1-D Gaussian blur with a zero border."""
    d = np.arange(size)[:, None] - np.arange(size)[None, :]
    g = np.exp(-0.5 * (d / sigma) ** 2) * (np.abs(d) <= 3 * sigma)
    return (g / g[size // 2].sum()).astype(np.float32)
