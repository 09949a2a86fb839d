"""Optimisers that update arrays in place: SGD with momentum, and Adam.

Weight decay is decoupled (AdamW-style): weights shrink by lr * wd each step, apart from
the gradient, so Adam's per-parameter scaling does not weaken it. Biases are not decayed.

After the matrix products, the optimiser is a training step's largest cost: Adam reads and
writes four arrays the size of the model with a square root and a division per weight.
So each update is the textbook sequence of operations, rounding for rounding (a seed gives
the weights it always gave), written into preallocated scratch instead of fresh
temporaries, and, given `threads=2`, split in halves that two threads work through at once
(NumPy releases the GIL inside elementwise loops).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Below this many elements a parameter is not worth handing to another thread.
_MIN_SPLIT = 1 << 18


class Optimizer:
    def __init__(self, params: list[np.ndarray], weight_decay: float = 0.0, threads: int = 1):
        self.params = params
        self.weight_decay = weight_decay
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        # Per thread, the (param index, slice) pieces it updates and its scratch buffers.
        self._work: list[list[tuple[int, slice]]] = [[] for _ in range(self.threads)]
        for i, p in enumerate(params):
            if not p.flags.c_contiguous:
                raise ValueError("optimisers update parameters through flat views: "
                                 "every parameter must be C-contiguous")
            parts = self.threads if p.size >= _MIN_SPLIT else 1
            bounds = np.linspace(0, p.size, parts + 1).astype(int)
            for t, (a, b) in enumerate(itertools.pairwise(bounds)):
                self._work[t].append((i, slice(int(a), int(b))))
        self._scratch = [self._buffers(pieces) for pieces in self._work]

    def _buffers(self, pieces: list[tuple[int, slice]]) -> list[np.ndarray]:
        """The scratch arrays one thread needs (see `_update`), as long as its largest piece."""
        return []

    def _decay_factor(self, p: np.ndarray, lr: float) -> float | None:
        return 1.0 - lr * self.weight_decay if self.weight_decay and p.ndim > 1 else None

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        flat = [g.reshape(-1) for g in grads]
        consts = self._constants(lr)
        if self._pool is None:
            self._run(0, flat, lr, consts)
            return
        futures = [self._pool.submit(self._run, t, flat, lr, consts)
                   for t in range(1, self.threads)]
        self._run(0, flat, lr, consts)
        for f in futures:
            f.result()

    def _constants(self, lr: float) -> tuple:
        return ()

    def _run(self, t: int, flat: list[np.ndarray], lr: float, consts: tuple) -> None:
        for i, s in self._work[t]:
            p = self.params[i]
            self._update(i, s, p.reshape(-1)[s], flat[i][s], self._decay_factor(p, lr), lr,
                         consts, self._scratch[t])

    def _update(self, i: int, s: slice, p: np.ndarray, g: np.ndarray, decay: float | None,
                lr: float, consts: tuple, scratch: list[np.ndarray]) -> None:
        raise NotImplementedError


def _scratch(pieces: list[tuple[int, slice]], params: list[np.ndarray], count: int
             ) -> list[np.ndarray]:
    n = max((s.stop - s.start for _, s in pieces), default=0)
    dtype = np.result_type(*params) if params else np.float32
    return [np.empty(n, dtype) for _ in range(count)]


class SGD(Optimizer):
    def __init__(self, params: list[np.ndarray], momentum: float = 0.9, weight_decay: float = 0.0,
                 threads: int = 1):
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in params]
        super().__init__(params, weight_decay, threads)

    def _buffers(self, pieces):
        return _scratch(pieces, self.params, 1)

    def _update(self, i, s, p, g, decay, lr, consts, scratch):
        v = self.velocity[i].reshape(-1)[s]
        t = scratch[0][:len(p)]
        if decay is not None:
            p *= decay
        v *= self.momentum
        v += g
        np.multiply(v, lr, out=t)  # p -= lr * v, without the temporary
        p -= t


class Adam(Optimizer):
    def __init__(self, params: list[np.ndarray], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, threads: int = 1):
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        super().__init__(params, weight_decay, threads)

    def _buffers(self, pieces):
        return _scratch(pieces, self.params, 2)

    def _constants(self, lr: float) -> tuple:
        self.t += 1
        # Bias correction folded into the step size: the moments start at zero.
        return (float(lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)),)

    def _update(self, i, s, p, g, decay, lr, consts, scratch):
        # Op for op: p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
        # p -= step*m / (sqrt(v) + eps), each product rounded where the textbook rounds it.
        (step,) = consts
        m, v = self.m[i].reshape(-1)[s], self.v[i].reshape(-1)[s]
        t1, t2 = scratch[0][:len(p)], scratch[1][:len(p)]
        if decay is not None:
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
