"""What arrives from a Sketchpad or an API client, reduced to the one image it holds.

Gradio's Sketchpad/ImageEditor sends {"background", "layers", "composite"}; the engine
takes arrays, so the unwrapping happens here, at the serving edge.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.preprocess import DrawingError, to_rgba


def to_array(drawing) -> np.ndarray | None:
    """The image inside a Sketchpad value, or the value itself; None for a cleared pad."""
    if not isinstance(drawing, Mapping):
        return drawing
    if drawing.get("composite") is not None:
        return drawing["composite"]
    layers = [x for x in (drawing.get("background"), *(drawing.get("layers") or []))
              if x is not None]
    return flatten_layers([np.asarray(x) for x in layers]) if layers else None


def flatten_layers(layers: list[np.ndarray]) -> np.ndarray:
    """Alpha-composite the layers over the background (the first)."""
    base = to_rgba(layers[0])
    for layer in layers[1:]:
        top = to_rgba(layer)
        if top.shape != base.shape:
            raise DrawingError(f"layer of shape {top.shape} does not match {base.shape}")
        a = top[..., 3:4]
        base = np.concatenate([top[..., :3] * a + base[..., :3] * (1 - a),
                               a + base[..., 3:4] * (1 - a)], axis=-1)
    return base
