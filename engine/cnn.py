"""A small convolutional network: [conv -> max-pool -> ReLU] x n -> [dense -> ReLU] x m -> dense.

Pooling before the ReLU gives the same output as after it (both are monotone) on a map a
quarter the size. Tensors are named `conv.<i>.*` and `dense.<j>.*`; the last dense layer
is the classifier.

config: {"input": [28, 28], "conv": [{"channels": 32, "kernel": 5, "pad": 0, "pool": 2},
...], "dense": [128], "classes": 10, "batchnorm": false}

With "batchnorm", a model made by `init` trains with batch normalisation between each
convolution and its pooling (engine/batchnorm.py; its γ and β are parameters, its running
statistics state); `folded()` is the same network with the normalisation folded into the
convolutions, which is what every precision stores and what a loaded model is. Tensors
`conv.<i>.bn_{scale,shift,mean,var}` appear in `state_dict` only while it is unfolded.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from engine import parallel
from engine.batchnorm import BatchNorm
from engine.cnn_one import OnePlan
from engine.conv import GROUP_BYTES, Conv2D, groups, pooled_product, runs, window_rows, zero_padded
from engine.conv_layer import (
    convolve,
    layer_backward,
    layer_forward,
    normed_backward,
    normed_rest,
)
from engine.functional import relu, softmax_row
from engine.mlp import Dense
from engine.model import Grads, Model, fold_scale

CONV_DEFAULTS = {"pad": 0, "pool": 2}
# Images per pass at inference: as many as keep a pass's largest patch matrix within
# GROUP_BYTES (1.5x 256 images' rate), in steps of CHUNK_STEP between CHUNK_STEP and
# CHUNK. A small network reads 64 at a time (32: 0.9x the rate); one at full resolution
# 16, and a layer whose 16 images' patches still outgrow GROUP_BYTES runs in groups
# (engine.conv.groups). Chunks of 16 or more give an image the same numbers; OpenBLAS
# takes another kernel for small products (a batch's short remainder).
CHUNK, CHUNK_STEP = 64, 16


def _convs(config: dict) -> list[dict]:
    return [{**CONV_DEFAULTS, **c} for c in config["conv"]]


class CNN(Model):
    family = "cnn"
    shares_batches = True

    def __init__(self, config: dict, convs: list[Conv2D], dense: list[Dense],
                 norms: list[BatchNorm] | None = None):
        self._config = config
        self.convs, self.dense, self.norms = convs, dense, norms
        self._pools = [c["pool"] for c in _convs(config)]
        self._chunk = self._chunk_for(config, (convs[0].W if convs else dense[0].W).itemsize)
        self._indices: dict[tuple, np.ndarray] = {}  # one-channel patch rows, per shape
        self._per_places: dict[tuple, tuple] = {}  # a frozen layer's repeated scale, bias
        self._plan: tuple | None = None  # (the frozen layers, their OnePlan)

    @classmethod
    def init(cls, config: dict, seed: int | np.random.Generator = 0,
             dtype: str | np.dtype = "float32") -> CNN:
        model = super().init(config, seed, dtype)
        if config.get("batchnorm"):
            model.norms = [BatchNorm.fresh(c.W.shape[-1], dtype) for c in model.convs]
        return model

    @classmethod
    def _conv_shapes(cls, config: dict) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
        """The convolutions' parameter shapes, and the (h, w, c) map they leave."""
        h, w = (int(s) for s in config.get("input", (28, 28)))
        c_in = 1
        out: dict[str, tuple[int, ...]] = {}
        for i, c in enumerate(_convs(config)):
            k, ch, pad, pool = int(c["kernel"]), int(c["channels"]), int(c["pad"]), int(c["pool"])
            h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
            if min(k, ch, pool) < 1 or min(h, w) < pool:
                raise ValueError(f"conv layer {i} ({c}) does not fit a {h}x{w} map")
            out[f"conv.{i}.weight"], out[f"conv.{i}.bias"] = (k, k, c_in, ch), (ch,)
            h, w, c_in = h // pool, w // pool, ch
        return out, (h, w, c_in)

    @classmethod
    def _chunk_for(cls, config: dict, itemsize: int) -> int:
        """Images per inference pass (see CHUNK): from each layer's patch matrix per image."""
        h, w = (int(s) for s in config.get("input", (28, 28)))
        c_in, most = 1, 1
        for c in _convs(config):
            k, pad, q = int(c["kernel"]), int(c["pad"]), int(c["pool"])
            oh, ow = (h + 2 * pad - k + 1) // q, (w + 2 * pad - k + 1) // q
            most = max(most, q * q * oh * ow * k * k * c_in * itemsize)
            h, w, c_in = oh, ow, int(c["channels"])
        fits = GROUP_BYTES // most // CHUNK_STEP * CHUNK_STEP
        return min(CHUNK, max(CHUNK_STEP, fits))

    @classmethod
    def feature_shape(cls, config: dict) -> tuple[int, ...]:
        """(h, w, channels) of the map the convolutions hand to the dense layers."""
        return cls._conv_shapes(config)[1]

    @classmethod
    def shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        out, (h, w, c) = cls._conv_shapes(config)
        sizes = [h * w * c, *(int(d) for d in config.get("dense", [])),
                 int(config.get("classes", 10))]
        for j in range(len(sizes) - 1):
            out[f"dense.{j}.weight"], out[f"dense.{j}.bias"] = (sizes[j], sizes[j + 1]), \
                (sizes[j + 1],)
        return out

    @classmethod
    def from_state_dict(cls, config: dict, tensors: dict[str, np.ndarray]) -> CNN:
        convs = [Conv2D(tensors[f"conv.{i}.weight"], tensors[f"conv.{i}.bias"],
                        tensors.get(f"conv.{i}.weight_scale"), int(c["pad"]))
                 for i, c in enumerate(_convs(config))]
        n_dense = len(config.get("dense", [])) + 1
        dense = [Dense(tensors[f"dense.{j}.weight"], tensors[f"dense.{j}.bias"],
                       tensors.get(f"dense.{j}.weight_scale")) for j in range(n_dense)]
        norms = None
        if config.get("batchnorm") and "conv.0.bn_scale" in tensors:  # not yet folded
            norms = [BatchNorm(*(tensors[f"conv.{i}.bn_{k}"]
                                 for k in ("scale", "shift", "mean", "var")))
                     for i in range(len(convs))]
        return cls(config, convs, dense, norms)

    @classmethod
    def describe_shape(cls, config: dict) -> str:
        parts = [f"c{c['kernel']}x{c['channels']}" + (f"p{c['pool']}" if c["pool"] > 1 else "")
                 for c in _convs(config)]
        bn = "+bn" if config.get("batchnorm") else ""
        return "-".join(parts + [f"d{d}" for d in config.get("dense", [])]) + bn

    def config(self) -> dict:
        return self._config

    def state_dict(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, layers in (("conv", self.convs), ("dense", self.dense)):
            for i, layer in enumerate(layers):
                out[f"{prefix}.{i}.weight"], out[f"{prefix}.{i}.bias"] = layer.W, layer.b
                if layer.scale is not None:
                    out[f"{prefix}.{i}.weight_scale"] = layer.scale
        for i, norm in enumerate(self.norms or []):
            for k in ("scale", "shift", "mean", "var"):
                out[f"conv.{i}.bn_{k}"] = getattr(norm, k)
        return out

    def parameters(self) -> list[np.ndarray]:
        return [p for layer in (*self.convs, *self.dense) for p in (layer.W, layer.b)] + \
            [p for norm in (self.norms or []) for p in (norm.scale, norm.shift)]

    def folded(self) -> CNN:
        """The network as it runs at inference: batch normalisation, if any, folded into
        the convolutions (a new model; this one when there is nothing to fold)."""
        if not self.norms:
            return self
        tensors = {k: v for k, v in self.state_dict().items() if "bn_" not in k}
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            tensors[f"conv.{i}.weight"], tensors[f"conv.{i}.bias"] = norm.fold(conv.W, conv.b)
        out = type(self).from_state_dict(self._config, tensors)
        out.name, out.meta = self.name, self.meta
        return out

    def freeze(self) -> CNN:
        """Read-only weights (Model.freeze) and fixed layers, so the one-image plan made
        from them stays right while `convs` and `dense` are the same objects."""
        super().freeze()
        self.convs, self.dense = tuple(self.convs), tuple(self.dense)
        for layer in (*self.convs, *self.dense):
            object.__setattr__(layer, "_frozen", True)
        return self

    def _one_plan(self) -> OnePlan | None:
        """The one-image plan of a frozen, folded model (engine/cnn_one.py), made once."""
        if not isinstance(self.convs, tuple) or self.norms or not self.convs:
            return None
        cached = self._plan
        if cached is None or cached[0] is not self.convs or cached[1] is not self.dense:
            plan = OnePlan(tuple(self._config.get("input", (28, 28))), self.convs,
                           self._pools, self.dense)
            self._plan = cached = (self.convs, self.dense, plan)
        return cached[2]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if len(x) == 1 and (plan := self._one_plan()) is not None:
            return softmax_row(plan.logits(x[0]))[None]
        return super().predict_proba(x)

    def input_gradient(self, x: np.ndarray, target: np.ndarray | int | None = None
                       ) -> np.ndarray:
        if self.norms:  # the running statistics, as inference uses them, not the batch's
            return self.folded().input_gradient(x, target)
        return super().input_gradient(x, target)

    @property
    def classifier(self) -> str:
        return f"dense.{len(self.dense) - 1}"

    @property
    def dtype(self) -> np.dtype:
        return self.convs[0].W.dtype if self.convs else self.dense[0].W.dtype

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits, a chunk of images at a time (see CHUNK); inside
        `engine.parallel.splitting` the chunks are shared among the threads (each image's
        numbers are the same either way). One image through a frozen model takes its own
        path (engine/cnn_one.py), equal up to rounding."""
        if self.norms:
            return self.folded().forward(x)
        x = np.asarray(x, dtype=self.dtype)
        if len(x) == 1 and (plan := self._one_plan()) is not None:
            return plan.logits(x[0])[None]
        chunk = self._chunk
        if len(x) <= chunk:
            return self._infer(x)
        starts = range(0, len(x), chunk)

        def share(_: int, s: slice) -> np.ndarray:
            return np.concatenate([self._infer(x[i:i + chunk]) for i in starts[s]])

        return np.concatenate(parallel.each(share, parallel.shares(len(starts))))

    def _forward(self, x: np.ndarray, keep: bool):
        if not keep:
            return self.folded()._infer(x), None
        if self.norms:
            return self._forward_normed(x)
        n = len(x)
        h, w = self._config.get("input", (28, 28))
        images = x.reshape(n, h, w, 1)
        cols, shape = [], images.shape
        for conv, pool in zip(self.convs, self._pools):  # whole-batch patches: for dW
            cols.append(np.empty(conv.patches_shape(shape), x.dtype))
            _, oh, ow = cols[-1].shape[:3]
            shape = (n, oh // pool, ow // pool, conv.W.shape[-1])
        features = np.empty(shape, x.dtype)
        shares = parallel.shares(n)
        stacks: list = [None] * len(shares)

        def stack(k: int, s: slice) -> None:
            """One share of the images through every convolution (engine/parallel.py)."""
            a, kept = images[s], []
            for conv, pool, patches in zip(self.convs, self._pools, cols):
                a, layer = layer_forward(conv, pool, a, patches[s])
                kept.append(layer)
            features[s] = a
            stacks[k] = kept

        parallel.each(stack, shares)
        logits, acts = self._dense_forward(features)
        return logits, (shares, cols, stacks, features.shape, acts)

    def _dense_forward(self, features: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        a = features.reshape(len(features), -1)
        acts = [a]
        for layer in self.dense[:-1]:
            a = layer(a)
            relu(a, out=a)
            acts.append(a)
        return self.dense[-1](a), acts

    def _forward_normed(self, x: np.ndarray):
        """The training pass with batch normalisation: layer by layer, each convolution
        on the threads' shares, the batch's statistics over all of them at once, then
        normalisation, pooling and ReLU on the shares again."""
        n = len(x)
        h, w = self._config.get("input", (28, 28))
        a = x.reshape(n, h, w, 1)
        shares = parallel.shares(n)
        cols, layers = [], []
        for conv, pool, norm in zip(self.convs, self._pools, self.norms):
            patches = np.empty(conv.patches_shape(a.shape), x.dtype)
            _, oh, ow = patches.shape[:3]
            z = np.empty((n, oh, ow, conv.W.shape[-1]), x.dtype)
            parallel.each(partial(convolve, conv, a, patches, z), shares)
            inv = norm.standardise(z)  # z is x̂ from here on
            out = np.empty((n, oh // pool, ow // pool, z.shape[-1]), x.dtype)
            kept: list = [None] * len(shares)
            parallel.each(partial(normed_rest, norm, pool, z, out, kept), shares)
            cols.append(patches)
            layers.append((z, inv, kept))
            a = out
        logits, acts = self._dense_forward(a)
        return logits, (shares, cols, layers, a.shape, acts)

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """Logits for inference, equal to the training path's (the same products, row by
        row), with the work around the products cut down. Each patch matrix is one copy
        of a strided view whose rows come window place by window place: pooling is then
        a few maxima of contiguous blocks, and rows a ragged pool would drop are never
        computed. A layer's scale and bias are applied after the pooling, to a quarter of
        the values (both are monotone: the same maxima). One-channel maps are gathered by
        indices made once (a strided copy of single values is slower)."""
        n = len(x)
        h, w = self._config.get("input", (28, 28))
        a = np.ascontiguousarray(x).reshape(n, h, w, 1)
        for i, (conv, q) in enumerate(zip(self.convs, self._pools)):
            k, _, c_in, c_out = conv.W.shape
            if conv.pad:
                a = zero_padded(a, conv.pad)
                h, w = h + 2 * conv.pad, w + 2 * conv.pad
            oh, ow = (h - k + 1) // q, (w - k + 1) // q
            # Scaling by s >= 0 and adding b are monotone in IEEE rounding too, so they
            # commute with the maxima bit for bit: done after the pooling, on a quarter
            # of the values. A negative scale would reverse the order: then before.
            late = conv.scale is None or bool((conv.scale >= 0).all())
            pooled = np.empty((n, oh * ow, c_out), a.dtype)
            if c_in == 1:
                index = self._one_channel_index(i, h, w, k, q)
                pooled_product(a.reshape(n, -1).take(index, axis=1), conv, late, q, pooled)
            else:  # one copy of the view, a run of k*C values at a time
                view = window_rows(a, k, q)
                parts = groups(n, view[0].nbytes)
                patches = np.empty((parts[0].stop, *view.shape[1:]), a.dtype)
                for s in parts:
                    part = patches[:s.stop - s.start]
                    np.copyto(runs(part), runs(view[s]))
                    pooled_product(part, conv, late, q, pooled[s])
            if late:
                fold_scale(pooled, *self._per_place(i, oh * ow, conv))
            a = relu(pooled, out=pooled).reshape(n, oh, ow, c_out)
            h, w = oh, ow
        a = a.reshape(n, -1)
        for layer in self.dense[:-1]:
            a = layer(a)
            relu(a, out=a)
        return self.dense[-1](a)

    def _per_place(self, layer: int, places: int, conv: Conv2D
                   ) -> tuple[np.ndarray | None, np.ndarray]:
        """A frozen layer's scale and bias repeated over its `places` output places: the
        same additions as broadcasting them, which NumPy runs a few channels at a time
        (8% of `cnn-c8c16c16c20`'s batch). Made once; as they are when not frozen."""
        if not isinstance(self.convs, tuple):
            return conv.scale, conv.b
        key = (layer, places)
        if key not in self._per_places:
            self._per_places[key] = tuple(None if v is None else np.tile(v, (places, 1))
                                          for v in (conv.scale, conv.b))
        return self._per_places[key]

    def _one_channel_index(self, layer: int, h: int, w: int, k: int, q: int) -> np.ndarray:
        """The patch rows of one one-channel (h, w) map as flat indices, in the order of
        `_infer`'s strided view; made once per layer (they depend on shapes only)."""
        key = (layer, h, w, k, q)
        index = self._indices.get(key)
        if index is None:
            grid = np.arange(h * w).reshape(1, h, w, 1)
            index = window_rows(grid, k, q).reshape(-1, k * k)  # a copy: contiguous
            self._indices[key] = index
        return index

    def _backward(self, cache, dz: np.ndarray, params: bool, inputs: bool
                  ) -> tuple[Grads, np.ndarray | None]:
        shares, cols, stacks, spatial, acts = cache
        grads: Grads = []
        for j in range(len(self.dense) - 1, -1, -1):
            if params:
                grads += [dz.sum(axis=0), acts[j].T @ dz]
            dz = self.dense[j].backward_input(dz)
            if j:
                dz *= acts[j] > 0
        dz = dz.reshape(spatial)
        douts = [dz[s] for s in shares]  # each share's gradient at its stack's current layer
        h, w = self._config.get("input", (28, 28))
        def kept(i: int) -> list[tuple]:
            """What each share kept of layer i: the normalised pass keeps it layer by
            layer, the plain one share by share."""
            return stacks[i][2] if self.norms else [stack[i] for stack in stacks]

        normed = []  # dL/dγ, dL/dβ of each batch-normalised layer, last layer first
        for i in range(len(self.convs) - 1, -1, -1):
            in_shapes = None
            if i or inputs:
                before = kept(i - 1) if i else None
                in_shapes = [before[k][1].shape if i else (s.stop - s.start, h, w, 1)
                             for k, s in enumerate(shares)]
            if self.norms:
                z, inv, _ = stacks[i]
                g, douts, bn = normed_backward(self.convs[i], self.norms[i], cols[i], z, inv,
                                               kept(i), douts, shares, params, in_shapes)
                normed += bn
            else:
                g, douts = layer_backward(self.convs[i], cols[i], kept(i), douts, shares,
                                          params, in_shapes)
            grads += g
        grads.reverse()
        normed.reverse()  # in parameters() order: γ, β of the first layer first
        return grads + normed, np.concatenate(douts).reshape(len(dz), -1) if inputs else None
