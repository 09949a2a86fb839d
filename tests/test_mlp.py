import numpy as np
import pytest

from engine.mlp import MLP, Dense, evaluate


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        hi = f()
        x[i] = old - eps
        lo = f()
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    model = MLP.init([7, 6, 5, 4], seed=3, dtype="float64")
    for layer in model.layers:  # nonzero biases exercise their gradient too
        layer.b[:] = rng.normal(size=layer.b.shape)
    x = rng.normal(size=(9, 7))
    y = rng.integers(0, 4, 9)
    _, grads = model.loss_and_grads(x, y)
    for layer, (dW, db) in zip(model.layers, grads):
        for param, analytic in ((layer.W, dW), (layer.b, db)):
            numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], param)
            assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-8), \
                np.abs(analytic - numeric).max()


def test_he_init_scale_and_shapes():
    model = MLP.init([784, 512, 10], seed=0)
    assert model.sizes == [784, 512, 10] and model.num_params == 784 * 512 + 512 + 5130
    assert model.layers[0].W.dtype == np.float32
    assert abs(model.layers[0].W.std() - np.sqrt(2 / 784)) < 0.002


def test_scaled_layer_equals_dequantised_weights():
    rng = np.random.default_rng(0)
    W, b, s = rng.normal(size=(5, 3)), rng.normal(size=3), rng.uniform(0.5, 2, 3)
    x = rng.normal(size=(4, 5))
    assert np.allclose(Dense(W, b, s)(x), x @ (W * s) + b)


def test_quantised_model_refuses_training():
    model = MLP([Dense(np.ones((2, 2), np.float32), np.zeros(2, np.float32),
                       np.ones(2, np.float32))])
    with pytest.raises(TypeError, match="quantised"):
        model.loss_and_grads(np.ones((1, 2)), np.array([0]))


def test_evaluate_counts_correct():
    model = MLP([Dense(np.eye(3), np.zeros(3))])
    x = np.eye(3)
    assert evaluate(model, x, np.array([0, 1, 2]), batch_size=2) == 3
    assert evaluate(model, x, np.array([0, 2, 2])) == 2
