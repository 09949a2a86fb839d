import numpy as np

from engine.explain import input_times_gradient
from engine.mlp import MLP
from engine.training import init_model


def test_input_times_gradient_is_zero_off_the_ink_and_adds_up_for_a_linear_model():
    model = init_model(MLP, {"sizes": [784, 10]}, 0, "float64")  # logits = x @ W + b
    x = np.zeros((28, 28))
    x[10:18, 12:15] = 1.0
    target = 3
    m = input_times_gradient(model, x, target)
    assert m.shape == (28, 28)
    assert np.all(m[x == 0] == 0)
    W, _ = model.parameters()
    # for a linear model the map adds up to the logit minus the bias, exactly
    assert np.isclose(m.sum(), (x.ravel() @ W)[target])


def test_default_target_is_the_answer():
    model = init_model(MLP, {"sizes": [784, 16, 10]}, 1, "float32")
    x = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    answer = int(model.predict(x[None])[0])
    assert np.array_equal(input_times_gradient(model, x), input_times_gradient(model, x, answer))
