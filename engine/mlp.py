"""A multi-layer perceptron with ReLU hidden layers, forward and backward by hand.

Weights are stored (in, out) so a batch is `x @ W`. A layer may carry a per-output
`scale`: quantised models keep integer-valued weights and multiply the output instead,
so `(x @ Wq) * s` costs one extra multiply per output, not a dequantisation per call.
Tensors are named `layers.<i>.weight` / `layers.<i>.bias`, as the shipped files have them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from engine.model import Grads, Model, fold_scale


@dataclass
class Dense:
    W: np.ndarray  # (in, out)
    b: np.ndarray  # (out,)
    scale: np.ndarray | None = None  # (out,), folded into the output when set

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return fold_scale(x @ self.W, self.scale, self.b)

    def backward_input(self, dz: np.ndarray) -> np.ndarray:
        """dL/dx from dL/dz: through the scale, then the weights."""
        return (dz * self.scale if self.scale is not None else dz) @ self.W.T


class MLP(Model):
    """Flatten -> Dense -> ReLU -> ... -> Dense, producing logits.

    config: {"sizes": [inputs, hidden..., classes]}, e.g. [784, 128, 10].
    """

    family = "mlp"

    def __init__(self, layers: list[Dense]):
        if not layers:
            raise ValueError("an MLP needs at least one layer")
        self.layers = layers

    @classmethod
    def shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        sizes = [int(s) for s in config["sizes"]]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"an MLP needs at least two positive sizes, got {sizes}")
        out: dict[str, tuple[int, ...]] = {}
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            out[f"layers.{i}.weight"], out[f"layers.{i}.bias"] = (n_in, n_out), (n_out,)
        return out

    @classmethod
    def from_state_dict(cls, config: dict, tensors: dict[str, np.ndarray]) -> MLP:
        n = len(config["sizes"]) - 1
        return cls([Dense(tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"],
                          tensors.get(f"layers.{i}.weight_scale")) for i in range(n)])

    @classmethod
    def describe_shape(cls, config: dict) -> str:
        hidden = config["sizes"][1:-1]
        return "x".join(map(str, hidden)) if hidden else "linear"

    def config(self) -> dict:
        return {"sizes": self.sizes}

    def state_dict(self) -> dict[str, np.ndarray]:
        out = {}
        for i, layer in enumerate(self.layers):
            out[f"layers.{i}.weight"], out[f"layers.{i}.bias"] = layer.W, layer.b
            if layer.scale is not None:
                out[f"layers.{i}.weight_scale"] = layer.scale
        return out

    def parameters(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in (layer.W, layer.b)]

    @property
    def classifier(self) -> str:
        return f"layers.{len(self.layers) - 1}"

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].W.dtype

    @property
    def quantised(self) -> bool:
        return any(layer.scale is not None for layer in self.layers)

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].W.shape[0]] + [layer.W.shape[1] for layer in self.layers]

    def _forward(self, x: np.ndarray, keep: bool) -> tuple[np.ndarray, list[np.ndarray]]:
        h = x.reshape(len(x), -1)
        acts = [h]
        for layer in self.layers[:-1]:
            h = layer(h)
            np.maximum(h, 0, out=h)
            if keep:
                acts.append(h)
        return self.layers[-1](h), acts

    def _backward(self, acts: list[np.ndarray], dz: np.ndarray, params: bool, inputs: bool
                  ) -> tuple[Grads, np.ndarray | None]:
        grads: Grads = []
        for i in range(len(self.layers) - 1, -1, -1):
            if params:
                grads += [dz.sum(axis=0), acts[i].T @ dz]  # reversed below: W before b
            if i or inputs:
                dz = self.layers[i].backward_input(dz)
                if i:
                    dz *= acts[i] > 0  # ReLU passes gradient where it was active
        grads.reverse()
        return grads, dz if inputs else None
