"""A batch's per-image work split over threads: the second core for a CNN's training.

Most of a CNN step is passes that BLAS does not thread (gathering patches, pooling and
their backward passes) around products of a few thousand rows; OpenBLAS spreads the
products over the cores and leaves the passes on one. Handing each thread whole images
instead (their passes and their products, with BLAS at one thread so the two kinds of
threads do not fight over the cores) keeps every core busy: NumPy lets go of the GIL in
its loops and in BLAS.

The thread count changes no number. An image's arithmetic is the same whichever thread
does it; what sums over the batch (weight and bias gradients) is one computation on
whole-batch arrays; and BLAS runs at one thread at every count, because OpenBLAS may sum
a product in another order on more threads. (A share's products have fewer rows than
the batch's; on the zoo's shapes they come out bit for bit the same, which
tests/test_parallel.py checks.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import TypeVar

T = TypeVar("T")
MAX_THREADS = 8  # a batch of 128 split finer than 16 images a thread is mostly overhead

_threads = 1
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def default_threads() -> int:
    """The cores this process may use, at most MAX_THREADS."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_THREADS))


def threads() -> int:
    """How many threads share a batch now (1 outside `splitting`)."""
    return _threads


@contextmanager
def splitting(n: int) -> Iterator[None]:
    """Within: batches split over `n` threads (at least 1), BLAS held at one thread.

    At every `n`, so the numbers never depend on it: OpenBLAS may sum a product in another
    order when it runs on more threads (measured here: a CNN's weight gradient for a short
    last batch), and a model that splits its batches must not get other weights from
    another thread count."""
    from threadpoolctl import threadpool_limits

    global _threads
    with threadpool_limits(limits=1, user_api="blas"):
        previous, _threads = _threads, max(1, min(int(n), MAX_THREADS))
        try:
            yield
        finally:
            _threads = previous


def for_model(model: object, n: int) -> AbstractContextManager:
    """`splitting(n)` for a model that splits its batches (`Model.shares_batches`); for
    others nothing changes (BLAS keeps its threads: an MLP's products are all its work)."""
    return splitting(n) if getattr(model, "shares_batches", False) else nullcontext()


def shares(n: int) -> list[slice]:
    """range(n) cut into one contiguous share per thread (fewer if n is smaller)."""
    k = max(1, min(_threads, n))
    cuts = [n * i // k for i in range(k + 1)]
    return [slice(cuts[i], cuts[i + 1]) for i in range(k)]


def run(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Every task's result, in order; the tasks run on the threads when there are several
    (first come, first served: the calling thread is one of them, so a step wakes one
    thread fewer). The first error is raised once all have finished."""
    if _threads == 1 or len(tasks) == 1:
        return [task() for task in tasks]
    global _pool, _pool_size
    helpers = min(_threads, len(tasks)) - 1
    if _pool is None or _pool_size < helpers:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool, _pool_size = ThreadPoolExecutor(helpers, thread_name_prefix="batch-share"), \
            helpers
    results: list = [None] * len(tasks)
    errors: list[BaseException] = []
    queue = iter(range(len(tasks)))  # next() on it is atomic under the GIL

    def work() -> None:
        for i in queue:
            try:
                results[i] = tasks[i]()
            except BaseException as e:
                errors.append(e)

    futures = [_pool.submit(work) for _ in range(helpers)]
    work()
    wait(futures)
    if errors:
        raise errors[0]
    return results


def each(fn: Callable[[int, slice], T], shares: Sequence[slice]) -> list[T]:
    """fn(i, share) for every share, as `run` runs tasks."""
    return run([partial(fn, i, share) for i, share in enumerate(shares)])
