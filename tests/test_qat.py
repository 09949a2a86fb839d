"""Quantisation-aware training: the forward pass sees exactly the stored grid, gradients pass
straight through to the float weights, and it beats rounding after training."""

import numpy as np
import pytest

import zoo
from engine.cnn import CNN
from engine.mlp import MLP
from engine.model import evaluate
from engine.qat import QAT, fake_quantized
from engine.quant import fake_quantize
from engine.training import Recipe, init_model, to_input, train
from tests.conftest import requires_mnist
from tests.test_training import toy
from zoo.registry import PRECISIONS

CNN_CONFIG = {"conv": [{"channels": 4, "kernel": 3, "pad": 1}, {"channels": 6, "kernel": 3}],
              "dense": [12]}


def stored(model, precision):
    """`model` as `precision` saves and loads it."""
    p = PRECISIONS[precision]
    tensors, config = p.encode(model)
    return type(model).from_state_dict(model.config(),
                                       p.decode(tensors, config, model.shapes(model.config())))


@pytest.mark.parametrize("precision", ["int4", "int2"])
@pytest.mark.parametrize("family,config", [(MLP, {"sizes": [784, 40, 10]}), (CNN, CNN_CONFIG)])
def test_training_sees_what_ships(family, config, precision):
    model = init_model(family, config, 3, "float32")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    x = to_input(toy(8)[0])
    with fake_quantized(model, PRECISIONS[precision].qat):
        seen = model.forward(x)
        cls = model.state_dict()[f"{model.classifier}.weight"]
        assert np.array_equal(cls, fake_quantize(before[f"{model.classifier}.weight"], 8))
    np.testing.assert_allclose(stored(model, precision).forward(x), seen, rtol=1e-4, atol=1e-5)
    # the float weights are back, bit for bit
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_gradient_passes_straight_through():
    model = init_model(MLP, {"sizes": [784, 24, 10]}, 0, "float64")
    images, labels = toy(16)
    x = to_input(images, "float64")
    qat = QAT(bits=2, scale="absmean")
    with fake_quantized(model, qat):
        loss, grads = model.loss_and_grads(x, labels)
        grid = MLP.from_state_dict(model.config(), {k: v.copy() for k, v in
                                                    model.state_dict().items()})
    ref_loss, ref_grads = grid.loss_and_grads(x, labels)
    assert loss == ref_loss  # the gradient at the quantised point ...
    assert all(np.array_equal(a, b) for a, b in zip(grads, ref_grads))
    assert not np.array_equal(grid.parameters()[0], model.parameters()[0])  # ... for the floats


def test_qat_is_reproducible_from_the_seed():
    images, labels = toy()
    recipe = Recipe(epochs=2, batch_size=32, qat=PRECISIONS["int2"].qat)
    runs = []
    for _ in range(2):
        model = init_model(CNN, CNN_CONFIG, 5, "float32")
        train(model, images, labels, recipe, 5, progress=False)
        runs.append([p.copy() for p in model.parameters()])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))
    assert recipe.to_dict()["qat"] == {"bits": 2, "group_size": None, "scale": "absmean",
                                       "classifier_bits": 8}


def test_qat_settings_are_checked():
    for bad in ({"bits": 1}, {"bits": 4, "scale": "median"}, {"bits": 4, "group_size": 0}):
        with pytest.raises(ValueError, match="QAT"):
            QAT(**bad)


@requires_mnist
def test_ternary_qat_beats_rounding_after_training(mnist):
    """On real digits, from a fully trained shipped parent: rounding it to ternary loses
    much; two short epochs with the rounding in the loop wins most of it back."""
    model = zoo.load("mlp-h64-float32").copy()  # loaded weights are read-only
    images, labels = mnist.train_images[:10000], mnist.train_labels[:10000]
    x_test, y_test = to_input(mnist.test_images[:2000]), mnist.test_labels[:2000]
    float_acc = evaluate(model, x_test, y_test) / 2000
    ptq_acc = evaluate(stored(model, "int2"), x_test, y_test) / 2000
    recipe = Recipe(epochs=2, lr=1e-3, warmup_epochs=0, augment=None,
                    qat=PRECISIONS["int2"].qat)
    train(model, images, labels, recipe, 0, progress=False)
    qat_acc = evaluate(stored(model, "int2"), x_test, y_test) / 2000
    assert qat_acc > ptq_acc + 0.2 and qat_acc > float_acc - 0.04, (float_acc, ptq_acc, qat_acc)
