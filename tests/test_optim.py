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
