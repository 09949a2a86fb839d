"""Why a model gave its answer: input times gradient.

The gradient of the answer's logit with respect to each pixel says how much that pixel
would move the answer; multiplied by the pixel itself it says how much the ink that is
there did move it (zero where there is no ink). For a ReLU network this is a first-order
share of the logit among the pixels, computed with the model's own backward pass.
"""

from __future__ import annotations

import numpy as np

from engine.model import Model


def input_times_gradient(model: Model, x: np.ndarray, target: int | None = None
                         ) -> np.ndarray:
    """(28, 28) map for one image `x` (28, 28) or (1, 28, 28): positive where ink pushed
    the logit of `target` (default: the model's answer) up, negative where it pushed it
    down."""
    x = np.asarray(x, dtype=model.dtype).reshape(1, 28, 28)
    grad = model.input_gradient(x, None if target is None else np.array([target]))
    return (x * grad)[0].astype(np.float32)
