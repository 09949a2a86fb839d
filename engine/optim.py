"""Optimisers that update arrays in place: SGD with momentum, and Adam.

Weight decay is decoupled (AdamW-style): weights shrink by lr * wd each step, apart from
the gradient, so Adam's per-parameter scaling does not weaken it. Biases are not decayed.

After the matrix products, the optimiser is a training step's largest cost: Adam reads and
writes four arrays the size of the model, with a square root and a division per weight.
Each update is the textbook sequence of operations, rounding for rounding (a seed gives
the weights it always gave), but written into scratch buffers allocated once instead of
fresh temporaries each step. (Splitting the update over a second thread was tried: with
BLAS's own threads spinning between products on that core, it gained nothing.)
"""

from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, params: list[np.ndarray], weight_decay: float = 0.0, scratch: int = 0):
        for p in params:
            if not p.flags.c_contiguous:
                raise ValueError("optimisers update the model's own arrays in place: "
                                 "every parameter must be a C-contiguous array")
        self.params = params
        self.weight_decay = weight_decay
        n = max((p.size for p in params), default=0)
        dtype = np.result_type(*params) if params else np.float32
        self._scratch = [np.empty(n, dtype) for _ in range(scratch)]

    def _decay_factor(self, p: np.ndarray, lr: float) -> float | None:
        return 1.0 - lr * self.weight_decay if self.weight_decay and p.ndim > 1 else None

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, params: list[np.ndarray], momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, weight_decay, scratch=1)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        for p, g, v in zip(self.params, grads, self.velocity):
            t = self._scratch[0][:p.size].reshape(p.shape)
            if (decay := self._decay_factor(p, lr)) is not None:
                p *= decay
            v *= self.momentum
            v += g
            np.multiply(v, lr, out=t)  # p -= lr * v, without the temporary
            p -= t


class Adam(Optimizer):
    def __init__(self, params: list[np.ndarray], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, weight_decay, scratch=2)
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
            # Op for op: p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
            # p -= step*m / (sqrt(v) + eps), each product rounded where the formula has it.
            t1, t2 = (s[:p.size].reshape(p.shape) for s in self._scratch)
            if (decay := self._decay_factor(p, lr)) is not None:
                p *= decay
            m *= self.b1
            np.multiply(g, 1 - self.b1, out=t1)
            m += t1
            v *= self.b2
            np.multiply(g, g, out=t1)
            t1 *= 1 - self.b2
            v += t1
            np.multiply(m, step, out=t1)
            np.sqrt(v, out=t2)
            t2 += self.eps
            t1 /= t2
            p -= t1


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
