"""Learning-rate schedules as plain functions of the step.

Warm-up avoids Adam's large, poorly estimated first steps; the cosine decay to a small
floor is what buys the last tenths of a point of accuracy.
"""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, base_lr: float, warmup: int = 0,
                  min_lr: float = 0.0) -> float:
    if warmup and step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def constant(step: int, total: int, base_lr: float, warmup: int = 0, min_lr: float = 0.0) -> float:
    if warmup and step < warmup:
        return base_lr * (step + 1) / warmup
    return base_lr


SCHEDULES = {"warmup_cosine": warmup_cosine, "constant": constant}
