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

from engine.functional import relu, softmax_row
from engine.model import Grads, Model, fold_scale, scaled_weights

# Below this many first-layer weights (784 x ~170) reading them all is cheaper than finding
# the inked pixels first (bench/inference_speed.py, one-image latency).
_TRIM_FROM = 1 << 17


def _inked_span(v: np.ndarray) -> tuple[int, int]:
    """[first, last + 1) of the nonzero entries of `v`; (0, 0) when there are none."""
    inked = (v != 0).tobytes()
    a = inked.find(1)
    return (a, inked.rfind(1) + 1) if a >= 0 else (0, 0)


@dataclass
class Dense:
    W: np.ndarray  # (in, out)
    b: np.ndarray  # (out,)
    scale: np.ndarray | None = None  # (out,), folded into the output when set

    def __setattr__(self, name: str, value) -> None:
        if getattr(self, "_frozen", False):  # set by MLP.freeze: layouts were derived from it
            raise AttributeError(f"a frozen model's layers are fixed (setting {name}); "
                                 "change model.copy() instead")
        object.__setattr__(self, name, value)

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
        self.layers = list(layers)  # a tuple only once frozen (see freeze)
        self._layout: tuple | None = None  # frozen one-image layouts (_forward_one)
        self._zero = self.layers[0].W.dtype.type(0)  # ReLU's floor, made once

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

    def freeze(self) -> MLP:
        """Read-only weights (Model.freeze), and fixed layers: a tuple of layers whose
        arrays cannot be swapped, so the one-image layouts stay right while `layers` is the
        same object (one identity check per call)."""
        super().freeze()
        self.layers = tuple(self.layers)
        for layer in self.layers:
            object.__setattr__(layer, "_frozen", True)
        return self

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

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if len(x) == 1:  # one image: its path end to end
            return softmax_row(self._forward_one(x[0]))[None]
        return super().predict_proba(x)

    def _forward(self, x: np.ndarray, keep: bool) -> tuple[np.ndarray, list[np.ndarray]]:
        if len(x) == 1 and not keep:
            return self._forward_one(x[0])[None], []
        h = x.reshape(len(x), -1)
        acts = [h]
        for layer in self.layers[:-1]:
            h = layer(h)
            relu(h, out=h)
            if keep:
                acts.append(h)
        return self.layers[-1](h), acts

    def _forward_one(self, image: np.ndarray) -> np.ndarray:
        """One image's logits, the app's case: vectors, in place, and only the weight rows
        that can matter.

        A digit is mostly background and a zero pixel adds nothing to any product, so a
        wide first layer reads only the rows of W from the first inked pixel to the last:
        a contiguous slice, no copy. A frozen model (weights that cannot change under a
        derived copy) goes further with layouts made once, scales folded in: digits are
        taller than wide, so pixels are taken column by column against W's rows in that
        order, which makes the slice about half of W (410 of 784 rows on average over
        MNIST's test set, where row order gives 530); narrow layers multiply by W.T
        stored contiguously, the faster matrix-vector product here.
        """
        first = self.layers[0]
        if not isinstance(self.layers, tuple):  # not frozen: the weights as they are
            v = image.reshape(-1)
            if first.W.size >= _TRIM_FROM:
                a, b = _inked_span(v)
                z = v[a:b] @ first.W[a:b]
            else:
                z = v @ first.W
            h = fold_scale(z, first.scale, first.b)
            for layer in self.layers[1:]:
                np.maximum(h, 0, out=h)
                h = layer(h)
            return h
        _, _, kind, W, rest = self._one_image_layout(image.shape)
        if kind == "t":
            h = np.dot(W, image.reshape(-1))
        else:
            v = image.T.ravel() if kind == "columns" else image.reshape(-1)
            a, b = _inked_span(v)
            h = v[a:b] @ W[a:b]
        h += first.b
        zero = self._zero
        for Wt, bias in rest:
            np.maximum(h, zero, out=h)
            h = np.dot(Wt, h)
            h += bias
        return h

    def _one_image_layout(self, shape: tuple[int, ...]) -> tuple:
        """(the layers it was made from, image shape, how the first layer reads, its
        matrix, [(W.T, b) of the later layers]), scales folded in; made once per frozen
        layers and image shape (new layers, new layout)."""
        first = self.layers[0]
        cached = self._layout
        if cached is None or cached[0] is not self.layers or cached[1] != shape:
            W = scaled_weights(first)
            if W.size < _TRIM_FROM:
                kind, matrix = "t", np.ascontiguousarray(W.T)
            elif len(shape) == 2 and shape[0] * shape[1] == W.shape[0]:
                h, w = shape
                kind = "columns"
                matrix = np.ascontiguousarray(
                    W.reshape(h, w, -1).transpose(1, 0, 2).reshape(h * w, -1))
            else:
                kind, matrix = "rows", np.ascontiguousarray(W)
            rest = [(np.ascontiguousarray(scaled_weights(layer).T), layer.b)
                    for layer in self.layers[1:]]
            self._layout = cached = (self.layers, shape, kind, matrix, rest)
        return cached

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
