"""A multi-layer perceptron with ReLU hidden layers, forward and backward by hand.

Weights are stored (in, out) so a batch is `x @ W`. A layer may carry a per-output
`scale`: quantised models keep integer-valued weights and multiply the output instead,
so `(x @ Wq) * s` costs one extra multiply per output, not a dequantisation per call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from engine.functional import cross_entropy, softmax


@dataclass
class Dense:
    W: np.ndarray  # (in, out)
    b: np.ndarray  # (out,)
    scale: np.ndarray | None = None  # (out,), folded into the output when set

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.W
        if self.scale is not None:
            z *= self.scale
        z += self.b
        return z


Grads = list[tuple[np.ndarray, np.ndarray]]


class MLP:
    """Dense -> ReLU -> ... -> Dense, producing logits."""

    def __init__(self, layers: list[Dense]):
        if not layers:
            raise ValueError("an MLP needs at least one layer")
        self.layers = layers

    @classmethod
    def init(cls, sizes: list[int] | tuple[int, ...], seed: int | np.random.Generator = 0,
             dtype: str | np.dtype = "float32") -> MLP:
        """He initialisation: keeps the variance of ReLU activations steady with depth."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        layers = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
            layers.append(Dense(W.astype(dtype), np.zeros(fan_out, dtype=dtype)))
        return cls(layers)

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].W.dtype  # what inputs are cast to: every layer shares it

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].W.shape[0]] + [layer.W.shape[1] for layer in self.layers]

    @property
    def num_params(self) -> int:
        return sum(layer.W.size + layer.b.size for layer in self.layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=self.dtype)
        for layer in self.layers[:-1]:
            h = layer(h)
            np.maximum(h, 0, out=h)
        return self.layers[-1](h)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.forward(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x).argmax(axis=-1)

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, Grads]:
        """Cross-entropy of a batch and the gradient of every (W, b), by backpropagation."""
        if any(layer.scale is not None for layer in self.layers):
            raise TypeError("quantised layers are for inference; train the float parent instead")
        acts = [np.asarray(x, dtype=self.dtype)]
        for layer in self.layers[:-1]:
            acts.append(np.maximum(layer(acts[-1]), 0))
        loss, dz = cross_entropy(self.layers[-1](acts[-1]), labels)
        grads: Grads = []
        for i in range(len(self.layers) - 1, -1, -1):
            a = acts[i]
            grads.append((a.T @ dz, dz.sum(axis=0)))
            if i:  # the input needs no gradient
                dz = dz @ self.layers[i].W.T
                dz *= acts[i] > 0  # ReLU passes gradient where it was active
        grads.reverse()
        return loss, grads


def evaluate(model: MLP, x: np.ndarray, labels: np.ndarray, batch_size: int = 2000) -> int:
    """How many of `x` the model classifies correctly (a count, so it compares exactly)."""
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model.predict(x[i:i + batch_size]) == labels[i:i + batch_size]).sum())
    return correct
