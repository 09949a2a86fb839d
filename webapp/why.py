"""Why the variants answered as they did, as small HTML pictures for the app.

Two views: the preprocessing steps (what the drawing became before any model saw it), and
per variant its input-times-gradient map over the 28x28 input: red where the ink pushed
the answer up, blue where it pushed it down. A wrong answer then shows whether the
drawing was lost in preprocessing or the model weighed the wrong strokes.
"""

from __future__ import annotations

import base64
import html

import cv2
import numpy as np

STAGE_HEIGHT, MAP_SIZE = 72, 112


def _png(image: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", image)
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""


def _figure(image: np.ndarray, caption: str, alt: str) -> str:
    return (f'<figure><img src="{_png(image)}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def stage_strip(stages: dict[str, np.ndarray]) -> str:
    """The preprocessing steps side by side, each scaled to one height."""
    figures = []
    for name, img in stages.items():
        grey = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        h, w = grey.shape
        width = max(1, round(w * STAGE_HEIGHT / h))
        small = cv2.resize(grey, (width, STAGE_HEIGHT), interpolation=cv2.INTER_AREA
                           if h > STAGE_HEIGHT else cv2.INTER_NEAREST)
        figures.append(_figure(small, name, f"preprocessing step: {name}"))
    return '<div class="strip">' + "".join(figures) + "</div>"


def saliency_image(image: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """A BGR picture of the map over the input: red up, blue down, grey ink elsewhere."""
    scale = float(np.abs(saliency).max()) or 1.0
    s = saliency / scale
    base = 40 + 80 * np.clip(image, 0, 1)  # the input, dim, so the colours read
    red = np.clip(base + 215 * np.clip(s, 0, 1), 0, 255)
    blue = np.clip(base + 215 * np.clip(-s, 0, 1), 0, 255)
    green = np.clip(base - 40 * np.abs(s), 0, 255)
    bgr = np.stack([blue, green, red], axis=-1).astype(np.uint8)
    return cv2.resize(bgr, (MAP_SIZE, MAP_SIZE), interpolation=cv2.INTER_NEAREST)


def saliency_maps(image: np.ndarray, maps: dict[str, np.ndarray], tops: dict[str, int]
                  ) -> str:
    """One map per variant, captioned with its answer."""
    figures = [_figure(saliency_image(image, m), f"{name}: {tops[name]}",
                       f"why {name} said {tops[name]}") for name, m in maps.items()]
    return '<div class="strip">' + "".join(figures) + "</div>"
