import numpy as np
import pytest

from engine.functional import softmax
from engine.mlp import MLP, Dense
from engine.model import evaluate
from tests.gradcheck import numeric_grad


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    model = MLP.init({"sizes": [7, 6, 5, 4]}, seed=3, dtype="float64")
    for layer in model.layers:  # nonzero biases exercise their gradient too
        layer.b[:] = rng.normal(size=layer.b.shape)
    x = rng.normal(size=(9, 7))
    y = rng.integers(0, 4, 9)
    _, grads = model.loss_and_grads(x, y)
    assert len(grads) == len(model.parameters()) == 6
    for param, analytic in zip(model.parameters(), grads):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], param)
        assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-8), \
            np.abs(analytic - numeric).max()


def test_he_init_scale_and_shapes():
    model = MLP.init({"sizes": [784, 512, 10]}, seed=0)
    assert model.sizes == [784, 512, 10] and model.num_params == 784 * 512 + 512 + 5130
    assert model.layers[0].W.dtype == np.float32
    assert abs(model.layers[0].W.std() - np.sqrt(2 / 784)) < 0.002


def test_init_draws_as_the_first_zoo_did():
    """The shipped MLPs were initialised layer by layer from one generator; the generic
    init must draw the same numbers, or a retrain would not reproduce them."""
    rng = np.random.default_rng(5)
    expected = [rng.standard_normal((784, 32)) * np.sqrt(2 / 784),
                rng.standard_normal((32, 10)) * np.sqrt(2 / 32)]
    model = MLP.init({"sizes": [784, 32, 10]}, np.random.default_rng(5), "float32")
    for layer, W in zip(model.layers, expected):
        assert np.array_equal(layer.W, W.astype(np.float32)) and not layer.b.any()


def test_scaled_layer_equals_dequantised_weights():
    rng = np.random.default_rng(0)
    W, b, s = rng.normal(size=(5, 3)), rng.normal(size=3), rng.uniform(0.5, 2, 3)
    x = rng.normal(size=(4, 5))
    assert np.allclose(Dense(W, b, s)(x), x @ (W * s) + b)


def test_quantised_model_refuses_training():
    model = MLP([Dense(np.ones((2, 2), np.float32), np.zeros(2, np.float32),
                       np.ones(2, np.float32))])
    assert model.quantised
    with pytest.raises(TypeError, match="quantised"):
        model.loss_and_grads(np.ones((1, 2)), np.array([0]))


def test_evaluate_counts_correct():
    model = MLP([Dense(np.eye(3), np.zeros(3))])
    x = np.eye(3)
    assert evaluate(model, x, np.array([0, 1, 2]), batch_size=2) == 3
    assert evaluate(model, x, np.array([0, 2, 2])) == 2


def test_state_dict_names_are_the_shipped_ones():
    model = MLP.init({"sizes": [784, 16, 10]}, 0)
    assert list(model.state_dict()) == ["layers.0.weight", "layers.0.bias",
                                        "layers.1.weight", "layers.1.bias"]
    assert model.classifier == "layers.1" and model.config() == {"sizes": [784, 16, 10]}
    clone = MLP.from_state_dict(model.config(), model.state_dict())
    x = np.random.default_rng(0).random((3, 28, 28))
    assert np.array_equal(clone.forward(x), model.forward(x))
    assert repr(model) == "<MLP 16, 12,730 params, float32>"


@pytest.mark.parametrize("width", [40, 200])  # below and above the trimming threshold
@pytest.mark.parametrize("scaled", [False, True])  # as int8 variants run: (x @ Wq) * s
def test_one_image_path_is_the_batch_function_frozen_or_not(width, scaled):
    """The one-image path (inked slice of W, column order and scales folded when frozen)
    computes what the batch path computes, for inked, blank, full and edge images."""
    from engine.training import init_model

    model = init_model(MLP, {"sizes": [784, width, 12, 10]}, 3, "float32")
    if scaled:
        rng = np.random.default_rng(1)
        for layer in model.layers:
            layer.scale = rng.uniform(0.5, 2.0, layer.W.shape[1]).astype(np.float32)
    rng = np.random.default_rng(0)
    images = np.zeros((5, 28, 28), np.float32)
    images[0, 5:20, 10:16] = rng.random((15, 6))
    images[2] = rng.random((28, 28))
    images[3, 0, 0] = images[3, 27, 27] = 1.0
    images[4, 13, 3:25] = 0.5
    batch = model.forward(images)
    for frozen in (False, True):
        if frozen:
            model.freeze()
        for i, image in enumerate(images):
            for x in (image[None], image.reshape(1, 784)):
                np.testing.assert_allclose(model.forward(x)[0], batch[i], rtol=1e-5, atol=1e-5)
                p = model.predict_proba(x)
                assert p.shape == (1, 10) and p.dtype == np.float32
                np.testing.assert_allclose(p[0], softmax(batch[i][None])[0], rtol=1e-4,
                                           atol=1e-6)
    assert model.frozen and model._layout is not None
    # Frozen layers cannot be changed in place; new layers get a new layout.
    with pytest.raises(AttributeError, match="frozen"):
        model.layers[-1].W = model.layers[-1].W * 2
    with pytest.raises(TypeError):
        model.layers[-1] = model.layers[0]
    last = model.layers[-1]
    model.layers = (*model.layers[:-1], Dense(last.W * 2, last.b, last.scale))
    model.freeze()
    np.testing.assert_allclose(model.forward(images[:1])[0], model.forward(images)[0],
                               rtol=1e-5, atol=1e-5)


def test_a_frozen_model_refuses_training_and_its_copy_trains():
    from engine.training import Recipe, init_model, train

    model = init_model(MLP, {"sizes": [784, 8, 10]}, 0, "float32").freeze()
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    labels = np.arange(4)
    with pytest.raises(ValueError, match="frozen"):
        train(model, images, labels, Recipe(epochs=1, augment=None), progress=False)
    twin = model.copy()
    before = twin.layers[0].W.copy()
    train(twin, images, labels, Recipe(epochs=1, augment=None, warmup_epochs=0), progress=False)
    assert not twin.frozen and not np.array_equal(twin.layers[0].W, before)
