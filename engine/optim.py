"""Optimisers that update arrays in place: SGD with momentum, and Adam.

Weight decay is decoupled (AdamW-style): weights shrink by lr * wd each step, apart from
the gradient, so Adam's per-parameter scaling does not weaken it. Biases are not decayed.
"""

from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, params: list[np.ndarray], weight_decay: float = 0.0):
        self.params = params
        self.weight_decay = weight_decay

    def _decay(self, p: np.ndarray, lr: float) -> None:
        if self.weight_decay and p.ndim > 1:
            p *= 1.0 - lr * self.weight_decay

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, params: list[np.ndarray], momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, weight_decay)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        for p, g, v in zip(self.params, grads, self.velocity):
            self._decay(p, lr)
            v *= self.momentum
            v += g
            p -= lr * v


class Adam(Optimizer):
    def __init__(self, params: list[np.ndarray], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, weight_decay)
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        self.t += 1
        # Bias correction folded into the step size: the moments start at zero.
        step = float(lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t))
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            self._decay(p, lr)
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * (g * g)
            p -= step * m / (np.sqrt(v) + self.eps)


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
