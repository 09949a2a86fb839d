"""The peers a benchmark compares the engine with, built from the engine's own weights.

ONNX Runtime and PyTorch run the *same* function as an engine model: the same layers and
the same weights (quantised weights times their scales), in each library's own layout:
NCHW images and (out, in, kh, kw) kernels, and the first dense layer's rows reordered from
the engine's (h, w, c) flattening to NCHW's (c, h, w). Every peer returns softmax
probabilities, as `predict_proba` does.
"""

from __future__ import annotations

import numpy as np

from engine.cnn import CNN
from engine.mlp import MLP
from engine.model import Model, scaled_weights


def effective(layer) -> tuple[np.ndarray, np.ndarray]:
    return scaled_weights(layer), layer.b


def _nchw_dense(model: CNN) -> list[tuple[np.ndarray, np.ndarray]]:
    """The dense layers, the first one's rows in NCHW order."""
    dense = [effective(layer) for layer in model.dense]
    W0, b0 = dense[0]
    h, w, c = model.feature_shape(model.config())
    W0 = W0.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
    return [(np.ascontiguousarray(W0), b0), *dense[1:]]


def _convs(model: CNN) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """(kernel OIHW, bias, pad, pool) per convolution."""
    pools = [c.get("pool", 2) for c in model.config()["conv"]]
    return [(np.ascontiguousarray(effective(conv)[0].transpose(3, 2, 0, 1)), conv.b, conv.pad,
             pool) for conv, pool in zip(model.convs, pools)]


def input_shape(model: Model) -> list:
    h, w = model.config().get("input", (28, 28)) if isinstance(model, CNN) else (28, 28)
    return [None, 1, h, w] if isinstance(model, CNN) else [None, h * w]


def onnx_bytes(model: Model) -> bytes:
    """The model as an ONNX graph (Conv, MaxPool, Relu, Flatten, MatMul, Add, Softmax)."""
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.DOUBLE if model.dtype == np.float64 else TensorProto.FLOAT
    nodes, inits, x = [], [], "x"
    dense = [effective(layer) for layer in model.layers] if isinstance(model, MLP) else []
    if isinstance(model, CNN):
        for i, (K, b, pad, pool) in enumerate(_convs(model)):
            inits += [numpy_helper.from_array(K, f"K{i}"), numpy_helper.from_array(b, f"c{i}")]
            nodes.append(helper.make_node("Conv", [x, f"K{i}", f"c{i}"], [f"v{i}"],
                                          pads=[pad] * 4))
            x = f"v{i}"
            if pool > 1:
                nodes.append(helper.make_node("MaxPool", [x], [f"p{i}"],
                                              kernel_shape=[pool, pool], strides=[pool, pool]))
                x = f"p{i}"
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
        nodes.append(helper.make_node("Flatten", [x], ["flat"]))
        x = "flat"
        dense = _nchw_dense(model)
    for i, (W, b) in enumerate(dense):
        inits += [numpy_helper.from_array(W, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("MatMul", [x, f"W{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"z{i}"])]
        x = f"z{i}"
        if i < len(dense) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"h{i}"]))
            x = f"h{i}"
    nodes.append(helper.make_node("Softmax", [x], ["probs"], axis=-1))
    graph = helper.make_graph(nodes, model.family, [helper.make_tensor_value_info(
        "x", elem, input_shape(model))], [helper.make_tensor_value_info("probs", elem,
                                                                        [None, 10])], inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    return onnx_model.SerializeToString()


def ort_session(model: Model, threads: int, model_bytes: bytes | None = None):
    """predict_proba on ONNX Runtime; takes the engine's (N, 28, 28) input."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model_bytes or onnx_bytes(model), opts,
                                providers=["CPUExecutionProvider"])
    shape = [-1, *input_shape(model)[1:]]
    return lambda x: sess.run(None, {"x": x.reshape(shape)})[0]


def torch_predict(model: Model):
    """predict_proba in PyTorch (inference mode); takes the engine's (N, 28, 28) input."""
    import torch
    from torch.nn import functional

    t = torch.from_numpy
    if isinstance(model, MLP):
        convs, dense = [], [effective(layer) for layer in model.layers]
    else:
        convs, dense = _convs(model), _nchw_dense(model)
    convs = [(t(K), t(b), pad, pool) for K, b, pad, pool in convs]
    dense = [(t(np.ascontiguousarray(W)), t(b)) for W, b in dense]
    shape = [-1, *input_shape(model)[1:]]

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            h = t(x.reshape(shape))
            for K, b, pad, pool in convs:
                h = functional.conv2d(h, K, b, padding=pad)
                if pool > 1:
                    h = functional.max_pool2d(h, pool)
                h = torch.relu(h)
            h = h.flatten(1)
            for i, (W, b) in enumerate(dense):
                h = torch.addmm(b, h, W)
                if i < len(dense) - 1:
                    h = torch.relu(h)
            return torch.softmax(h, dim=-1).numpy()
    return run


def torch_module(model: Model):
    """A trainable torch.nn.Sequential with the same layers (fresh PyTorch init)."""
    from torch import nn

    if isinstance(model, MLP):
        layers = []
        for i, (n_in, n_out) in enumerate(zip(model.sizes, model.sizes[1:])):
            layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(model.layers) - 1
                                                  else [])
        return nn.Sequential(nn.Flatten(), *layers)
    layers, c_in = [], 1
    normed = bool(model.config().get("batchnorm"))
    for K, _, pad, pool in _convs(model):
        layers.append(nn.Conv2d(c_in, K.shape[0], K.shape[2], padding=pad))
        layers += [nn.BatchNorm2d(K.shape[0])] if normed else []  # as the engine trains it
        layers += ([nn.MaxPool2d(pool)] if pool > 1 else []) + [nn.ReLU()]
        c_in = K.shape[0]
    layers.append(nn.Flatten())
    dense = _nchw_dense(model)
    for i, (W, _) in enumerate(dense):
        layers.append(nn.Linear(*W.shape))
        if i < len(dense) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
