"""A batch split over threads: the same numbers as one thread, BLAS held at one thread."""

import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from engine import parallel
from engine.cnn import CNN
from engine.training import Recipe, init_model, to_input, train
from tests.gradcheck import numeric_grad

C32C64 = {"conv": [{"channels": 32, "kernel": 5}, {"channels": 64, "kernel": 5}],
          "dense": [128]}
# Padding, a layer without pooling and a ragged pool: every path the backward pass takes.
TINY = {"input": [12, 11], "dense": [7], "classes": 4,
        "conv": [{"channels": 4, "kernel": 3, "pad": 1}, {"channels": 6, "kernel": 2, "pool": 1},
                 {"channels": 5, "kernel": 2, "pool": 2}]}


def blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.mark.parametrize("n", [1, 2, 5, 128, 129])
def test_shares_cover_the_batch_once(n):
    with parallel.splitting(3):
        shares = parallel.shares(n)
    assert len(shares) == min(3, n)
    assert [i for s in shares for i in range(n)[s]] == list(range(n))
    assert max(s.stop - s.start for s in shares) - min(s.stop - s.start for s in shares) <= 1
    assert parallel.shares(n) == [slice(0, n)]  # outside: one share, no threads


def test_splitting_holds_blas_at_one_thread_and_restores_it():
    before = blas_threads()
    for n in (1, 2):
        with parallel.splitting(n):
            assert parallel.threads() == n and blas_threads() == {1}
        assert parallel.threads() == 1 and blas_threads() == before


def test_each_runs_in_threads_and_waits_for_all_before_raising():
    done, names = [], set()

    def work(i, item):
        names.add(threading.current_thread().name)
        if item == "bad":
            raise ValueError("bad share")
        time.sleep(0.05)
        done.append(item)

    with parallel.splitting(3), pytest.raises(ValueError, match="bad share"):
        parallel.each(work, ["bad", "a", "b"])
    assert sorted(done) == ["a", "b"] and len(names) > 1


def test_run_keeps_the_order_and_the_calling_thread_takes_a_task():
    """At two threads the caller is one of the two (a step wakes one thread, not two):
    two tasks that can only finish together (a barrier) do, one of them on the calling
    thread, and the results come back in the tasks' order."""
    meet, names = threading.Barrier(2, timeout=10), []

    def task(i: int) -> int:
        names.append(threading.current_thread().name)
        meet.wait()
        return i * 10

    with parallel.splitting(2):
        assert parallel.run([lambda i=i: task(i) for i in range(2)]) == [0, 10]
        assert parallel.run([lambda i=i: i for i in range(7)]) == list(range(7))
    assert threading.current_thread().name in names and len(set(names)) == 2


def test_gradients_match_finite_differences_when_split():
    rng = np.random.default_rng(4)
    model = CNN.init(TINY, 4, "float64")
    x, y = rng.random((3, 12, 11)), rng.integers(0, 4, 3)
    with parallel.splitting(2):
        _, grads = model.loss_and_grads(x, y)
        for param, analytic in zip(model.parameters(), grads):
            numeric = numeric_grad(lambda: model.loss_and_grads(x, y)[0], param)
            assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
        dx = model.input_gradient(x, y)
    numeric = numeric_grad(lambda: model.forward(x)[np.arange(3), y].sum(), x)
    assert np.allclose(dx, numeric, rtol=1e-5, atol=1e-8)


C8C16 = {"conv": [{"channels": 8, "kernel": 3}, {"channels": 16, "kernel": 3}], "dense": []}
# cnn-c8c16c16c20's layers: batch normalisation, full resolution, a map pooled whole
NORMED = {"conv": [{"channels": 8, "kernel": 3, "pad": 1, "pool": 1},
                   {"channels": 16, "kernel": 3, "pad": 1}, {"channels": 16, "kernel": 3, "pad": 1},
                   {"channels": 20, "kernel": 3, "pool": 5}], "dense": [], "batchnorm": True}


@pytest.mark.parametrize("config,n", [(C32C64, 128), (C8C16, 88), (NORMED, 128), (NORMED, 88)])
def test_split_gradients_are_bit_identical_at_every_thread_count(config, n):
    """The zoo's CNNs on a training batch and on an epoch's short last batch (55,000 = 429
    x 128 + 88), whose weight gradient OpenBLAS sums in another order on two threads
    than on one: the same bits at every thread count, batch normalisation's statistics
    and running averages included."""
    rng = np.random.default_rng(0)
    x = to_input(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    y = rng.integers(0, 10, n)
    runs = []
    for threads in (1, 2, 3):
        model = CNN.init(config, 0)
        with parallel.splitting(threads):
            loss, grads = model.loss_and_grads(x, y)
        runs.append((loss, grads, [(bn.mean, bn.var) for bn in model.norms or []]))
    for loss, grads, stats in runs[1:]:
        assert loss == runs[0][0]
        assert all(np.array_equal(a, b) for a, b in zip(grads, runs[0][1], strict=True))
        assert all(np.array_equal(a, b) for s, t in zip(stats, runs[0][2], strict=True)
                   for a, b in zip(s, t, strict=True))


def test_training_at_two_threads_gives_the_same_weights(mnist):
    # 1,000 images: a short last batch; a constant rate, so its step counts
    recipe = Recipe(epochs=1, augment=None, schedule="constant")
    runs = []
    for threads in (1, 2):
        model = init_model(CNN, C8C16, 3, "float32")
        train(model, mnist.train_images[:1000], mnist.train_labels[:1000], recipe, 3,
              progress=False, threads=threads)
        runs.append(model.parameters())
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_inference_chunks_shared_among_threads_give_the_same_logits():
    model = CNN.init(TINY, 5)
    x = np.random.default_rng(5).random((100, 12, 11)).astype(np.float32)  # four chunks
    alone = model.forward(x)
    with parallel.splitting(3):
        assert np.array_equal(model.forward(x), alone)
