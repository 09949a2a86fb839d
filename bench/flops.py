"""FLOPs per image of an engine model's matrix products, forward and training.

2 FLOPs per multiply-add. A convolution counts as the im2col GEMM the engine runs for it
(engine/conv.py): 2 * k * k * c_in * c_out * H_out * W_out per image, H_out and W_out the
map the (padded) input leaves before pooling; a dense layer 2 * in * out. Training is the
forward products, the weight gradients (as many FLOPs again) and the input gradients of
every layer but the first (the engine never computes the input image's gradient), so about
three times the forward. Not counted: pooling, ReLU, biases, softmax and the optimiser,
memory passes with a few FLOPs per value that no BLAS speeds up, which is why the share of
sgemm a path reaches says how much of its time goes to them.
"""

from __future__ import annotations

from engine.cnn import CNN, CONV_DEFAULTS
from engine.mlp import MLP
from engine.model import Model


def layer_flops(model: Model) -> list[int]:
    """Forward FLOPs per image of each layer's matrix product, input layer first."""
    if isinstance(model, MLP):
        return [2 * layer.W.shape[0] * layer.W.shape[1] for layer in model.layers]
    if not isinstance(model, CNN):
        raise TypeError(f"no FLOP count for the {type(model).__name__} family")
    h, w = (int(s) for s in model.config().get("input", (28, 28)))
    out = []
    for conv, c in zip(model.convs, model.config()["conv"]):
        kh, kw, c_in, c_out = conv.W.shape
        h, w = h + 2 * conv.pad - kh + 1, w + 2 * conv.pad - kw + 1
        out.append(2 * kh * kw * c_in * c_out * h * w)
        pool = int({**CONV_DEFAULTS, **c}["pool"])
        h, w = h // pool, w // pool
    return out + [2 * layer.W.shape[0] * layer.W.shape[1] for layer in model.dense]


def forward_flops(model: Model) -> int:
    return sum(layer_flops(model))


def train_flops(model: Model) -> int:
    """Forward, weight gradients, and input gradients of all but the first layer."""
    each = layer_flops(model)
    return 2 * sum(each) + sum(each[1:])
