"""Quantisation-aware training: the forward pass sees the weights as they will be stored.

Post-training quantisation rounds weights the network never saw rounded; at 4 bits and
below that rounding is a large, structured error. Here every training step runs on the
fake-quantised weights (rounded to the stored grid, still floats), and the gradient it
gives is applied to the float weights as if rounding were the identity: the
straight-through estimator. The float weights keep accumulating updates smaller than one
quantisation step, which rounding every step would throw away.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from engine.model import Model
from engine.quant import SCALES, fake_quantize


@dataclass(frozen=True)
class QAT:
    """How each weight is quantised: `bits` with `group_size` and `scale` for all layers,
    `classifier_bits` (per output channel, absmax) for the layer that makes the logits."""

    bits: int
    group_size: int | None = None
    scale: str = "absmax"
    classifier_bits: int | None = 8  # None: like the other layers

    def __post_init__(self):
        if not 2 <= self.bits <= 8 or (self.classifier_bits is not None
                                       and not 2 <= self.classifier_bits <= 8):
            raise ValueError("QAT bits must be 2..8")
        if self.scale not in SCALES:
            raise ValueError(f"QAT scale must be one of {SCALES}, not {self.scale!r}")
        if self.group_size is not None and self.group_size < 1:
            raise ValueError(f"QAT group_size must be positive, not {self.group_size}")

    def layer(self, model: Model, prefix: str) -> tuple[int, int | None, str]:
        """(bits, group_size, scale) for the layer `prefix` of `model`."""
        if prefix == model.classifier and self.classifier_bits is not None:
            return self.classifier_bits, None, "absmax"
        return self.bits, self.group_size, self.scale

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def fake_quantized(model: Model, qat: QAT | None) -> Iterator[None]:
    """Inside the block, every `<layer>.weight` of `model` holds its quantised value; on
    exit the float values come back, so the optimiser updates them (straight-through)."""
    if qat is None:
        yield
        return
    state = model.state_dict()
    saved: dict[str, np.ndarray] = {}
    try:
        for key, w in state.items():
            if key.endswith(".weight"):
                saved[key] = w.copy()
                w[...] = fake_quantize(w, *qat.layer(model, key[:-len(".weight")]))
        yield
    finally:
        for key, w in saved.items():
            state[key][...] = w
