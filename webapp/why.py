"""Why the variants answered as they did, as small HTML pictures for the app.

Two views: the preprocessing steps (what the drawing became before any model saw it; the
ink that thickening added in orange), and per variant its input-times-gradient map over
the 28x28 input: red where the ink pushed the answer up, blue where it pushed it down. A
wrong answer then shows whether the drawing was lost in preprocessing or the model
weighed the wrong strokes.
"""

from __future__ import annotations

import base64
import html

import cv2
import numpy as np

STAGE_HEIGHT, MAP_SIZE = 72, 112
ADDED_BGR = np.array([0, 150, 255])  # orange: reads on the white ink and the black paper


def _png(image: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", image)
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""


def _figure(image: np.ndarray, caption: str, alt: str) -> str:
    return (f'<figure><img src="{_png(image)}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _added(before: np.ndarray | None, after: np.ndarray) -> np.ndarray | None:
    """The ink a step added, when adding ink (in the same frame) is all that it did."""
    if before is None or before.shape != after.shape or np.any(after < before):
        return None
    added = np.clip(after - before, 0, 1)
    return added if added.any() else None


def stage_strip(stages: dict[str, np.ndarray]) -> str:
    """The preprocessing steps side by side, each scaled to one height. A step that only
    added ink to the one before (the thickening, in the same frame) shows it in orange:
    a few pixels of growth look like nothing at this size."""
    figures, before = [], None
    for name, img in stages.items():
        grey = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        caption, added = name, _added(before, img)
        if added is not None:
            bgr = (bgr * (1 - added[..., None]) + added[..., None] * ADDED_BGR).astype(np.uint8)
            caption += ", added ink in orange"
        before = img
        h, w = grey.shape
        width = max(1, round(w * STAGE_HEIGHT / h))
        small = cv2.resize(bgr, (width, STAGE_HEIGHT), interpolation=cv2.INTER_AREA
                           if h > STAGE_HEIGHT else cv2.INTER_NEAREST)
        figures.append(_figure(small, caption, f"preprocessing step: {caption}"))
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
