"""Convolution, pooling and the CNN family against finite differences and a plain loop."""

import numpy as np
import pytest

from engine.cnn import CHUNK, CNN
from engine.conv import Conv2D, conv_input_grad, im2col, maxpool, maxpool_backward
from engine.mlp import MLP
from tests.gradcheck import numeric_grad

CONFIG = {"input": [10, 9], "conv": [{"channels": 3, "kernel": 3, "pad": 1, "pool": 2},
                                     {"channels": 4, "kernel": 2, "pool": 1}],
          "dense": [5], "classes": 4}


def direct_conv(x, W, b):
    """Convolution as its definition: a sum over the kernel at every output position."""
    n, h, w, _ = x.shape
    kh, kw, _, c_out = W.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, c_out))
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            out[:, i, j] = np.einsum("nabc,abco->no", x[:, i:i + kh, j:j + kw], W) + b
    return out


@pytest.mark.parametrize("c_in", [1, 3])
def test_conv_matches_the_definition(c_in):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, c_in))
    W, b = rng.normal(size=(3, 2, c_in, 4)), rng.normal(size=4)
    assert np.allclose(Conv2D(W, b)(x), direct_conv(x, W, b))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    assert np.allclose(Conv2D(W, b, pad=1)(x), direct_conv(padded, W, b))
    assert im2col(x, 3, 2).shape == (2, 5, 5, 3, 2, c_in)


@pytest.mark.parametrize("c_in", [1, 3])
def test_conv_input_grad_is_the_adjoint(c_in):
    """<conv(x), dz> == <x, conv_input_grad(dz)> for every x and dz: the adjoint identity."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 7, c_in))
    W = rng.normal(size=(3, 3, c_in, 5))
    z = Conv2D(W, np.zeros(5))(x)
    dz = rng.normal(size=z.shape)
    dx = conv_input_grad(dz.reshape(-1, 5), W, x.shape)
    assert np.isclose((z * dz).sum(), (x * dx).sum())


def test_maxpool_ties_send_the_gradient_once():
    x = np.zeros((1, 4, 5, 1))  # blank paper: every window ties, and the last column is ragged
    x[0, 2, 3, 0] = 2.0
    out, cache = maxpool(x)
    assert out.shape == (1, 2, 2, 1) and out[0, 1, 1, 0] == 2.0
    dx = maxpool_backward(cache, np.ones_like(out))
    assert dx.sum() == 4 and dx[0, 2, 3, 0] == 1 and dx[0, :, 4].sum() == 0
    assert dx[0, 0, 0, 0] == 1  # a tied window's first element takes it, as in PyTorch


@pytest.mark.parametrize("k", [2, 3, 5])
def test_maxpool_is_the_window_loop_bit_for_bit(k):
    """Pooling (a copy window place by window place, then maxima of blocks) and its
    backward pass against a loop over windows: the same bits, ties to the first place
    in row order, NaN and -0 included, ragged edges dropped and their gradient zero,
    into a dirty buffer or a new one."""
    rng = np.random.default_rng(k)
    x = rng.standard_normal((3, 2 * k + 1, 3 * k + 2, 4)).astype(np.float32)
    x[x < 0.3] = 0.0  # ties
    x[0, :k, :k] = -0.0
    x[1, :k, :k, 0] = np.nan
    out, cache = maxpool(x, k)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = maxpool_backward(cache, dout, out=np.full(x.shape, 7.0, np.float32))
    want, dwant = np.empty_like(out), np.zeros_like(x)
    for n, a, b, c in np.ndindex(out.shape):
        window = x[n, a * k:(a + 1) * k, b * k:(b + 1) * k, c].ravel()
        top = window[0]
        for v in window[1:]:
            top = np.maximum(top, v)
        want[n, a, b, c] = top
        first = int(np.flatnonzero(window == top)[0]) if not np.isnan(top) else -1
        for place in range(k * k):  # dout times 0 or 1 at every place (a -0 stays -0)
            dwant[n, a * k + place // k, b * k + place % k, c] = \
                dout[n, a, b, c] * np.float32(place == first)
    assert np.array_equal(out.view(np.uint32), want.view(np.uint32))
    assert np.array_equal(dx.view(np.uint32), dwant.view(np.uint32))
    assert np.array_equal(maxpool_backward(cache, dout), dx)


def random_cnn(seed=1):
    rng = np.random.default_rng(seed)
    model = CNN.init(CONFIG, seed, "float64")
    for p in model.parameters():
        if p.ndim == 1:  # nonzero biases exercise their gradient too
            p[:] = rng.normal(size=p.shape) * 0.1
    return model, rng


def assert_parameter_grads_match(model, x, y):
    _, grads = model.loss_and_grads(x, y)
    assert [g.shape for g in grads] == [p.shape for p in model.parameters()]
    for param, analytic in zip(model.parameters(), grads):
        numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], param)
        assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-8), \
            np.abs(analytic - numeric).max()


def test_backward_matches_finite_differences():
    model, rng = random_cnn()
    assert_parameter_grads_match(model, rng.random((3, 10, 9)), rng.integers(0, 4, 3))


@pytest.mark.parametrize("family", ["cnn", "mlp", "cnn-quantised"])
def test_input_gradient_matches_finite_differences(family):
    if family == "mlp":
        model, rng = MLP.init({"sizes": [90, 6, 4]}, 1, "float64"), np.random.default_rng(2)
    else:
        model, rng = random_cnn(2)
    if family == "cnn-quantised":  # a folded output scale must be differentiated through
        for layer in (*model.convs, *model.dense):
            layer.scale = rng.uniform(0.5, 2.0, layer.W.shape[-1])
    x, y = rng.random((3, 10, 9)), rng.integers(0, 4, 3)
    dx = model.input_gradient(x, y)
    numeric = numeric_grad(lambda: model.forward(x)[np.arange(3), y].sum(), x)
    assert dx.shape == x.shape and np.allclose(dx, numeric, rtol=1e-5, atol=1e-8)


def test_config_shapes_and_state_round_trip():
    model = CNN.init({"conv": [{"channels": 8, "kernel": 3}, {"channels": 16, "kernel": 3}],
                      "dense": []}, 0)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {"conv.0.weight": (3, 3, 1, 8), "conv.0.bias": (8,),
                      "conv.1.weight": (3, 3, 8, 16), "conv.1.bias": (16,),
                      "dense.0.weight": (400, 10), "dense.0.bias": (10,)}
    assert model.classifier == "dense.0" and model.num_params == 5258
    assert repr(model) == "<CNN c3x8p2-c3x16p2, 5,258 params, float32>"
    clone = CNN.from_state_dict(model.config(), model.state_dict())
    x = np.random.default_rng(0).random((2, 28, 28)).astype(np.float32)
    assert np.array_equal(clone.forward(x), model.forward(x))


def test_large_batches_run_in_chunks_with_the_same_answers():
    model, rng = random_cnn(3)
    x = rng.random((CHUNK + 7, 10, 9))
    whole = model.forward(x)
    assert whole.shape == (CHUNK + 7, 4)
    assert np.allclose(whole[-7:], model.forward(x[-7:]))


def test_a_config_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        CNN.shapes({"conv": [{"channels": 8, "kernel": 30}], "dense": []})


def test_zero_padded_is_np_pad():
    from engine.conv import zero_padded

    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3)).astype(np.float32)
    for p in (1, 2):
        out = zero_padded(x, p)
        assert out.dtype == x.dtype
        assert np.array_equal(out, np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))))


# Its second layer's patches outgrow the cache within one chunk: run in groups of images.
C16C32C32C64 = {"conv": [{"channels": 16, "kernel": 3, "pad": 1, "pool": 1},
                         {"channels": 32, "kernel": 3, "pad": 1},
                         {"channels": 32, "kernel": 3, "pad": 1}, {"channels": 64, "kernel": 3}],
                "dense": []}
ONE_IMAGE_CONFIGS = {
    "padded, ragged pools": CONFIG,
    "shipped c32c64": {"conv": [{"channels": 32, "kernel": 5}, {"channels": 64, "kernel": 5}],
                       "dense": [128]},
    "shipped c16c32c32": {"conv": [{"channels": 16, "kernel": 3, "pad": 1},
                                   {"channels": 32, "kernel": 3, "pad": 1},
                                   {"channels": 32, "kernel": 3}], "dense": []},
    "shipped c16c32c32c64": C16C32C32C64,
    "no pooling, odd maps": {"input": [11, 13], "conv": [{"channels": 5, "kernel": 2, "pool": 1},
                                                         {"channels": 4, "kernel": 3, "pool": 3}],
                             "dense": [7, 6], "classes": 3},
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", ONE_IMAGE_CONFIGS.values(), ids=ONE_IMAGE_CONFIGS.keys())
def test_inference_path_equals_the_training_path(config, dtype):
    """Inference (one image or many) reorders the patch rows, pools contiguous blocks and
    applies a layer's bias (and a non-negative scale) after the maxima: the logits must
    still be the training path's, bit for bit, float or quantised (scales as quantisation
    makes them, and scales of either sign), on inked and on blank images."""
    model, images, rng = model_and_images(config, dtype, 4, 40)
    h, w = images.shape[1:]
    for m in (model, model_with_scales(model, rng, signed=False),
              model_with_scales(model, rng, signed=True)):
        for x in images:
            one = m.forward(x[None])
            assert one.shape == (1, config.get("classes", 10))
            assert np.array_equal(one, m._forward(x[None], keep=True)[0])
        assert np.array_equal(m.forward(images), m._forward(images, keep=True)[0])
        strided = np.zeros((2 * h, w), dtype)[::2]  # not contiguous
        strided[:] = images[1]
        assert np.array_equal(m.forward(strided[None]), m.forward(images[1:2]))
        # Frozen, a batch repeats scale and bias over the places once: the same bits.
        frozen = m.copy().freeze()
        for _ in range(2):
            assert np.array_equal(frozen.forward(images), m.forward(images))


def model_and_images(config: dict, dtype: str, seed: int, n: int):
    """A fresh CNN with biases away from zero, and `n` sparse images (the first blank)."""
    model = CNN.init(config, 3, dtype)
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        if p.ndim == 1:
            p[:] = rng.normal(size=p.shape) * 0.1
    h, w = config.get("input", (28, 28))
    images = rng.random((n, h, w)).astype(dtype)
    images[images < 0.6] = 0
    images[0] = 0
    return model, images, rng


def model_with_scales(model: CNN, rng, signed: bool) -> CNN:
    """The model with every convolution given a per-channel scale: positive or zero as
    quantisation makes them, or (`signed`) some negative."""
    tensors = dict(model.state_dict())
    for i, conv in enumerate(model.convs):
        scale = rng.normal(size=conv.W.shape[-1])
        if not signed:
            scale = np.abs(scale) * (rng.random(scale.shape) > 0.1)  # some channels zero
        tensors[f"conv.{i}.weight_scale"] = scale.astype(conv.W.dtype)
    return CNN.from_state_dict(model.config(), tensors)


BN_CONFIG = {**CONFIG, "batchnorm": True}


def random_bn_cnn(seed=1):
    rng = np.random.default_rng(seed)
    model = CNN.init(BN_CONFIG, seed, "float64")
    for p in model.parameters():
        if p.ndim == 1:  # γ away from 1, β and biases away from 0
            p[:] += rng.normal(size=p.shape) * 0.3
    return model, rng


def test_batchnorm_backward_matches_finite_differences():
    """The training pass normalises with the batch's own statistics; its gradients, γ and
    β included, and the input's, against central differences of that same pass."""
    model, rng = random_bn_cnn()
    assert len(model.parameters()) == len(CNN.shapes(BN_CONFIG)) + 2 * len(model.convs)
    x = rng.random((4, 10, 9))
    assert_parameter_grads_match(model, x, rng.integers(0, 4, 4))
    logits, cache = model._forward(x, keep=True)
    dlogits = rng.normal(size=logits.shape)
    _, dx = model._backward(cache, dlogits, params=False, inputs=True)
    numeric = numeric_grad(lambda: float((model._forward(x, keep=True)[0] * dlogits).sum()), x)
    assert np.allclose(dx.reshape(x.shape), numeric, rtol=1e-5, atol=1e-8)


def test_batchnorm_keeps_running_statistics_and_folds_into_the_convolutions():
    model, rng = random_bn_cnn(2)
    x = rng.random((6, 10, 9))
    model._forward(x, keep=True)
    z = model.convs[0](x.reshape(6, 10, 9, 1))  # the first layer's batch statistics
    norm = model.norms[0]
    assert np.allclose(norm.mean, 0.1 * z.mean(axis=(0, 1, 2)))
    assert np.allclose(norm.var, 0.9 + 0.1 * z.var(axis=(0, 1, 2), ddof=1))
    # at inference: running statistics, and the folded model is the same function
    folded = model.folded()
    assert folded.norms is None and model.folded() is not model and folded.folded() is folded
    assert set(folded.state_dict()) == set(CNN.shapes(BN_CONFIG))
    h = (x.reshape(6, 10, 9, 1) - 0)  # by hand: conv, normalise with running stats, ...
    for conv, pool, n in zip(model.convs, model._pools, model.norms):
        h = conv(h)
        h = (h - n.mean) / np.sqrt(n.var + 1e-5) * n.scale + n.shift
        h = np.maximum(maxpool(h, pool)[0] if pool > 1 else h, 0)
    h = np.maximum(model.dense[0](h.reshape(6, -1)), 0)
    assert np.allclose(model.forward(x), model.dense[1](h))
    assert np.array_equal(model.forward(x), folded.forward(x))
    assert np.allclose(model.input_gradient(x), folded.input_gradient(x))
    # a copy keeps the statistics; a saved (folded) state builds the plain network
    assert np.array_equal(model.copy().forward(x), model.forward(x))
    assert CNN.from_state_dict(BN_CONFIG, folded.state_dict()).norms is None
    assert CNN.describe_shape(BN_CONFIG) == "c3x3p2-c2x4-d5+bn"


def test_batchnorm_steps_do_not_depend_on_the_thread_count():
    from engine import parallel

    results = []
    for n in (1, 2, 3):
        rng = np.random.default_rng(5)
        model = CNN.init(BN_CONFIG, 5, "float32")
        x, y = rng.random((37, 10, 9)).astype(np.float32), rng.integers(0, 4, 37)
        with parallel.splitting(n):
            loss, grads = model.loss_and_grads(x, y)
        results.append((loss, grads, model.norms[1].var.copy()))
    for loss, grads, var in results[1:]:
        assert loss == results[0][0] and np.array_equal(var, results[0][2])
        assert all(np.array_equal(a, b) for a, b in zip(grads, results[0][1]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", [*ONE_IMAGE_CONFIGS.values(), {
    "conv": [{"channels": 4, "kernel": 3, "pad": 1, "pool": 1},
             {"channels": 6, "kernel": 3, "pool": 5}], "dense": []}],
    ids=[*ONE_IMAGE_CONFIGS.keys(), "whole-map pool"])
def test_a_frozen_models_one_image_plan_is_the_batch_function(config, dtype):
    """A frozen CNN reads one image on its own plan (buffers made once, the scale folded
    into the weights, the first layer's patches transposed): the batch's logits up to
    rounding, float or quantised, on inked, blank and strided images, and again on a
    second call (the buffers are reused, not stale)."""
    base, images, rng = model_and_images(config, dtype, 5, 6)
    h, w = images.shape[1:]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for model in (base, model_with_scales(base, rng, signed=False)):
        batch = model.forward(images)
        model.freeze()
        assert model._one_plan() is not None
        for _ in range(2):
            for i, x in enumerate(images):
                one = model.forward(x[None])
                assert one.dtype == np.dtype(dtype) and one.shape == batch[i:i + 1].shape
                np.testing.assert_allclose(one[0], batch[i], rtol=tol, atol=tol)
                p = model.predict_proba(x.reshape(1, -1))
                np.testing.assert_allclose(p[0], model.predict_proba(images)[i], rtol=tol,
                                           atol=tol)
        strided = np.zeros((2 * h, w), dtype)[::2]
        strided[:] = images[1]
        np.testing.assert_allclose(model.forward(strided[None])[0], batch[1], rtol=tol,
                                   atol=tol)
    with pytest.raises(AttributeError, match="frozen"):
        model.convs[0].W = model.convs[0].W * 2
    with pytest.raises(ValueError):  # an image of another size, as the batch path
        model.forward(np.zeros((1, h + 1, w), dtype))


def test_one_image_plans_are_per_thread():
    """Two threads reading different images through one frozen model at once each get
    their own image's answer (the plan's buffers are per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(2)
    model = CNN.init(ONE_IMAGE_CONFIGS["shipped c16c32c32"], 1, "float32").freeze()
    images = rng.random((64, 28, 28)).astype(np.float32)
    expected = model.forward(images)

    def read(i: int) -> np.ndarray:
        return np.concatenate([model.forward(images[j:j + 1]) for j in range(i, 64, 2)
                               for _ in range(5)][::5])

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(read, (0, 1))
    np.testing.assert_allclose(a, expected[0::2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, expected[1::2], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("c_in", [1, 3, 8])
def test_im2col_is_every_patch_copied(c_in):
    """im2col (a patch row's kw*C values copied as one item when C > 1) is the sliding
    window itself, into a given buffer or a new one."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.random.default_rng(0).standard_normal((3, 9, 7, c_in)).astype(np.float32)
    expected = sliding_window_view(x, (3, 2), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
    out = np.full(expected.shape, np.nan, np.float32)
    assert im2col(x, 3, 2, out=out) is out
    assert np.array_equal(out, expected)
    assert np.array_equal(im2col(x, 3, 2), expected)
    if c_in > 1:  # a buffer whose rows are not one block cannot take runs: refused
        with pytest.raises((AttributeError, ValueError)):
            im2col(x, 3, 2, out=np.empty((*expected.shape[:-1], 2 * c_in), np.float32)[..., ::2])


def test_inference_chunks_of_16_or_more_give_the_same_numbers():
    """A CNN's chunk size is chosen per architecture (engine.cnn.CHUNK); any of the sizes
    it can choose gives every image the same logits, bit for bit, on the shipped
    architectures' shapes (OpenBLAS's small-product kernel, taken below them, would not;
    a batch's short remainder takes it whatever the chunk)."""
    from engine import parallel

    rng = np.random.default_rng(1)
    for config in (ONE_IMAGE_CONFIGS["shipped c32c64"], ONE_IMAGE_CONFIGS["shipped c16c32c32"]):
        model = CNN.init(config, 2, "float32")
        x = rng.random((192, 28, 28)).astype(np.float32)  # no remainder at any size
        outs = []
        for chunk in (16, 32, 64):
            model._chunk = chunk
            with parallel.splitting(2):
                outs.append(model.forward(x))
        assert all(np.array_equal(o, outs[0]) for o in outs[1:])


def test_a_layer_run_in_groups_of_images_gives_the_same_numbers(monkeypatch):
    """A layer whose patches would outgrow GROUP_BYTES runs a few images at a time
    (engine.conv.groups), at inference and in training: every image's logits, and the
    training step's loss and gradients, are the bits of one product over all the images,
    for any group size down to one image, float or quantised."""
    import engine.conv as conv

    rng = np.random.default_rng(5)
    model = CNN.init(C16C32C32C64, 3, "float32")
    assert len(conv.groups(model._chunk, 4 * 28 * 28 * 9 * 16)) > 1  # grouped as shipped
    x = rng.random((40, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    budgets = (2 << 20, 500_000, 1)
    for m in (model, model_with_scales(model, rng, signed=True)):
        monkeypatch.setattr(conv, "GROUP_BYTES", 1 << 40)
        whole = m.forward(x)
        for budget in budgets:
            monkeypatch.setattr(conv, "GROUP_BYTES", budget)
            assert np.array_equal(m.forward(x), whole), budget
    normed = CNN.init({**C16C32C32C64, "batchnorm": True}, 3, "float32")
    for m in (model, normed):  # a fresh copy each time: a step moves the running statistics
        monkeypatch.setattr(conv, "GROUP_BYTES", 1 << 40)
        loss, grads = m.copy().loss_and_grads(x.reshape(40, -1), y)
        for budget in budgets:
            monkeypatch.setattr(conv, "GROUP_BYTES", budget)
            again, regrads = m.copy().loss_and_grads(x.reshape(40, -1), y)
            assert again == loss, budget
            assert all(np.array_equal(g, h) for g, h in zip(regrads, grads)), budget


def test_one_image_answers_do_not_depend_on_blas_threads():
    """A frozen CNN's one image gives the same bits with BLAS on one thread (the app's
    workers) and on two (a process that left it alone): its products have the batch
    path's shapes (with the bias carried in as a column of ones, OpenBLAS summed a
    5x5x32 layer's products differently on two threads)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(3)
    for config in (ONE_IMAGE_CONFIGS["shipped c32c64"], {
            "conv": [{"channels": 32, "kernel": 3, "pad": 1}, {"channels": 64, "kernel": 3,
                                                                "pad": 1},
                     {"channels": 128, "kernel": 3, "pad": 1}], "dense": []}):
        model = CNN.init(config, 1, "float32").freeze()
        for _ in range(4):
            x = rng.random((1, 28, 28)).astype(np.float32)
            x[x < 0.5] = 0
            with threadpool_limits(1):
                one = model.forward(x)
            with threadpool_limits(2):
                two = model.forward(x)
            assert np.array_equal(one, two)
