"""The model contract every family implements, and what it gives them for free.

A family is a class: its parameters are named tensors (`<layer>.weight` with output
channels on the last axis, `<layer>.bias`), listed with their shapes by `shapes(config)`,
so initialisation, serialisation and quantisation never need to know the family. A
family writes two things by hand: `_forward` (logits, plus what backward needs) and
`_backward` (gradients of the parameters and, when asked, of the input).

Inputs are (N, 28, 28) floats in [0, 1], white ink on black; a family reshapes as it needs.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from engine.functional import cross_entropy, softmax

Grads = list[np.ndarray]


class Model:
    family: ClassVar[str]
    # Whether a training step splits its batch over threads (engine/parallel.py): worth it
    # where most of the step is passes BLAS does not thread.
    shares_batches: ClassVar[bool] = False
    name: str | None = None  # set by whoever loads it: the zoo puts the variant's name here
    meta: dict | None = None  # and its stored settings

    # --- what a family defines ----------------------------------------------------------
    @classmethod
    def shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in the order `parameters()` returns them."""
        raise NotImplementedError

    @classmethod
    def from_state_dict(cls, config: dict, tensors: dict[str, np.ndarray]) -> Model:
        """Build from named tensors; `<layer>.weight_scale` (out,), if given, is folded
        into that layer's output (how int8 weights run without dequantising)."""
        raise NotImplementedError

    def config(self) -> dict:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    @property
    def classifier(self) -> str:
        """The name of the layer that makes the logits (quantisers treat it gently)."""
        raise NotImplementedError

    @classmethod
    def describe_shape(cls, config: dict) -> str:
        """A short, family-neutral shape for tables: '512x256', 'c5x32-c5x64-d128'."""
        raise NotImplementedError

    def _forward(self, x: np.ndarray, keep: bool) -> tuple[np.ndarray, Any]:
        """Logits, and (when `keep`) what `_backward` needs."""
        raise NotImplementedError

    def _backward(self, cache: Any, dlogits: np.ndarray, params: bool, inputs: bool
                  ) -> tuple[Grads, np.ndarray | None]:
        raise NotImplementedError

    # --- what every family gets -------------------------------------------------------
    @classmethod
    def init(cls, config: dict, seed: int | np.random.Generator = 0,
             dtype: str | np.dtype = "float32") -> Model:
        """He initialisation: keeps the variance of ReLU activations steady with depth.

        Weights are drawn in `shapes` order from one generator, biases start at zero.
        """
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        tensors = {}
        for key, shape in cls.shapes(config).items():
            if key.endswith(".weight"):
                fan_in = math.prod(shape[:-1])
                tensors[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
            else:
                tensors[key] = np.zeros(shape, dtype=dtype)
        return cls.from_state_dict(config, tensors)

    def parameters(self) -> list[np.ndarray]:
        """The trainable arrays, updated in place by the optimisers."""
        state = self.state_dict()
        return [state[k] for k in self.shapes(self.config())]

    @property
    def quantised(self) -> bool:
        return any(k.endswith(".weight_scale") for k in self.state_dict())

    @property
    def dtype(self) -> np.dtype:
        return self.parameters()[0].dtype  # what inputs are cast to: every layer shares it

    @classmethod
    def count_params(cls, config: dict) -> int:
        return sum(math.prod(s) for s in cls.shapes(config).values())

    @property
    def num_params(self) -> int:
        return self.count_params(self.config())

    def freeze(self) -> Model:
        """Make the weights read-only: from now on the model only infers.

        A layout derived from the weights for speed (an MLP's column-ordered first layer
        for one image) is made once and is only right while the weights cannot change
        under it; training a frozen model fails loudly instead of silently using it.
        """
        for p in self.state_dict().values():
            p.flags.writeable = False
        return self

    @property
    def frozen(self) -> bool:
        return not all(p.flags.writeable for p in self.state_dict().values())

    def copy(self) -> Model:
        """A model with its own writeable copy of the weights (to train a loaded one)."""
        twin = type(self).from_state_dict(self.config(),
                                          {k: v.copy() for k, v in self.state_dict().items()})
        twin.name, twin.meta = self.name, self.meta
        return twin

    def folded(self) -> Model:
        """The model as it runs and ships: what serves training only (a CNN's batch
        normalisation) folded into the weights. Precisions store this form."""
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(np.asarray(x, dtype=self.dtype), keep=False)[0]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.forward(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x).argmax(axis=-1)

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, Grads]:
        """Cross-entropy of a batch and its gradient for every parameter, by backprop."""
        if self.quantised:
            raise TypeError("quantised layers are for inference; train the float parent instead")
        logits, cache = self._forward(np.asarray(x, dtype=self.dtype), keep=True)
        loss, dlogits = cross_entropy(logits, labels)
        grads, _ = self._backward(cache, dlogits, params=True, inputs=False)
        return loss, grads

    def input_gradient(self, x: np.ndarray, target: np.ndarray | int | None = None
                       ) -> np.ndarray:
        """d logit[target] / d input, shaped like `x`; target defaults to the answer.

        Input times this gradient says which pixels pushed the answer up (or down).
        """
        x = np.asarray(x, dtype=self.dtype)
        logits, cache = self._forward(x, keep=True)
        target = logits.argmax(axis=-1) if target is None else np.broadcast_to(
            np.asarray(target), (len(x),))
        dlogits = np.zeros_like(logits)
        dlogits[np.arange(len(x)), target] = 1.0
        _, dx = self._backward(cache, dlogits, params=False, inputs=True)
        return dx.reshape(x.shape)

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return (f"<{type(self).__name__}{label} {self.describe_shape(self.config())}, "
                f"{self.num_params:,} params, {self.dtype}"
                f"{', quantised' if self.quantised else ''}>")


def scaled_weights(layer) -> np.ndarray:
    """A layer's weights with its quantisation scale, if any, multiplied in (the layouts a
    frozen model derives for one image)."""
    return layer.W if layer.scale is None else (layer.W * layer.scale).astype(layer.W.dtype)


def fold_scale(z: np.ndarray, scale: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    """z * scale + b in place: a quantised layer's integer product back to real units."""
    if scale is not None:
        z *= scale
    z += b
    return z


def logits(model: Model, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
    """The model's logits for `x`, computed a batch at a time (bounded memory)."""
    return np.concatenate([model.forward(x[i:i + batch_size])
                           for i in range(0, len(x), batch_size)])


def evaluate(model: Model, x: np.ndarray, labels: np.ndarray, batch_size: int = 2000) -> int:
    """How many of `x` the model classifies correctly (a count, so it compares exactly)."""
    return int((logits(model, x, batch_size).argmax(axis=-1) == labels).sum())
