import itertools

import numpy as np
import pytest

from engine.optim import SGD, Adam
from engine.schedule import constant, warmup_cosine


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_optimizers_minimise_a_quadratic(opt_cls):
    target = np.array([[3.0, -2.0], [0.5, 1.0]])
    w = np.zeros((2, 2))
    opt = opt_cls([w])
    for _ in range(2000):
        opt.step([w - target], lr=0.01)
    assert np.allclose(w, target, atol=1e-2)


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_weight_decay_is_decoupled_and_skips_biases(opt_cls):
    w, b = np.ones((2, 2)), np.ones(2)
    opt = opt_cls([w, b], weight_decay=0.1)
    opt.step([np.zeros_like(w), np.zeros_like(b)], lr=0.5)
    assert np.allclose(w, 0.95) and np.allclose(b, 1.0)


def test_adam_first_step_is_lr_sized():
    w = np.zeros(3)
    Adam([w]).step([np.array([1e-3, -5.0, 300.0])], lr=0.1)
    assert np.allclose(np.abs(w), 0.1, rtol=1e-3)  # bias correction: step = lr * sign(g)


def test_adam_keeps_float32():
    w = np.zeros(3, np.float32)
    Adam([w]).step([np.ones(3, np.float32)], lr=0.1)
    assert w.dtype == np.float32


def test_warmup_cosine():
    lrs = [warmup_cosine(s, 100, 1.0, warmup=10, min_lr=0.01) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))  # decays after warm-up
    assert warmup_cosine(100, 100, 1.0, 10, 0.01) == pytest.approx(0.01)
    assert warmup_cosine(55, 100, 1.0, 10, 0.0) == pytest.approx(0.5)
    assert constant(50, 100, 0.3) == 0.3


def textbook_adam(params, grads_seq, lrs, wd=1e-4, b1=0.9, b2=0.999, eps=1e-8):
    """Adam as the formulas read, with NumPy temporaries: what the engine must equal."""
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, (grads, lr) in enumerate(zip(grads_seq, lrs), start=1):
        step = float(lr * np.sqrt(1 - b2**t) / (1 - b1**t))
        for p, g, mi, vi in zip(params, grads, m, v):
            if p.ndim > 1:
                p *= 1.0 - lr * wd
            mi *= b1
            mi += (1 - b1) * g
            vi *= b2
            vi += (1 - b2) * (g * g)
            p -= step * mi / (np.sqrt(vi) + eps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_is_the_textbook_update_bit_for_bit(dtype):
    shapes = [(60, 50), (50,), (3, 3, 2, 7), (7,)]
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(4)]
    lrs = [1e-3, 2e-3, 5e-4, 1e-3]
    ours = [p.copy() for p in start]
    opt = Adam(ours, weight_decay=1e-4)
    for g, lr in zip(grads, lrs):
        opt.step(g, lr)
    ref = [p.copy() for p in start]
    textbook_adam(ref, grads, lrs)
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref))
    assert not np.array_equal(ours[0], start[0])


def test_sgd_is_the_textbook_update_bit_for_bit():
    rng = np.random.default_rng(1)
    start = [rng.standard_normal((70, 40)).astype(np.float32), np.zeros(40, np.float32)]
    ours, ref = [p.copy() for p in start], [p.copy() for p in start]
    opt, velocity = SGD(ours, weight_decay=1e-3), [np.zeros_like(p) for p in start]
    for _ in range(3):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in start]
        opt.step(grads, lr=0.01)
        for p, g, v in zip(ref, grads, velocity):
            if p.ndim > 1:
                p *= 1.0 - 0.01 * 1e-3
            v *= 0.9
            v += g
            p -= 0.01 * v
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref))


def test_optimizer_refuses_parameters_it_cannot_update_in_place():
    w = np.zeros((4, 6))[:, ::2]  # a strided view: a flat view of it would be a copy
    with pytest.raises(ValueError, match="contiguous"):
        Adam([w])
