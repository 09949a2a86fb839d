"""The model workers: the same answers as the server's own predictor, and a worker that
dies, hangs, cannot start or cannot be sent a drawing costs one request at most."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.conftest import click, four, seven
from webapp import workers
from webapp.predictor import Predictor
from webapp.workers import Workers

NAMES = ["mlp-h128-int8", "cnn-c8c16-float32", "zoo-votes"]  # an ensemble too


@pytest.fixture(scope="module")
def predictor():
    return Predictor()


@pytest.fixture
def pool(predictor):
    w = Workers(predictor, 1, timeout=20)
    yield w
    w.close()


def _pid(pool: Workers) -> int:
    worker = pool._free.get()
    pool._free.put(worker)
    assert worker is not None, "no worker was started"
    return worker.process.pid


def test_same_answers_as_in_process(pool, predictor):
    for drawing in (seven(), four(), click(), np.full((280, 280), 255, np.uint8)):
        ours, theirs = predictor.predict(drawing, NAMES, explain=True), \
            pool.predict(drawing, NAMES, explain=True)
        assert (theirs.status, theirs.message) == (ours.status, ours.message)
        assert theirs.probabilities == ours.probabilities
        assert theirs.calibrated == ours.calibrated
        assert theirs.not_a_digit == ours.not_a_digit
        assert np.array_equal(theirs.image, ours.image)
        assert theirs.saliency.keys() == ours.saliency.keys()
        for name in theirs.saliency:
            assert np.array_equal(theirs.saliency[name], ours.saliency[name])
    assert _pid(pool) != os.getpid()


def test_large_canvases_cross_small_and_answer_the_same(pool, predictor):
    rng = np.random.default_rng(0)
    line = np.full((4096, 4096), 255, np.uint8)
    line[np.arange(4096), np.arange(4096)] = 0
    big_seven = np.kron(seven(), np.ones((6, 6), np.uint8))  # 1680 px, every pixel 6x6
    for drawing in (line, big_seven, rng.integers(0, 256, (1200, 900, 4), np.uint8),
                    {"composite": big_seven, "layers": []},
                    {"background": big_seven, "layers": [big_seven], "composite": None}):
        ours, theirs = predictor.predict(drawing, NAMES), pool.predict(drawing, NAMES)
        assert (theirs.status, theirs.message) == (ours.status, ours.message)
        assert theirs.probabilities == ours.probabilities
        assert np.array_equal(theirs.image, ours.image)
    assert workers._small(line).shape == (512, 512, 1)
    assert workers._small(np.full((3, 3), np.nan)).shape == (3, 3)  # its error is the worker's


def test_errors_come_back_as_answers(pool):
    assert pool.predict(seven(), ["no-such-variant"]).errors
    assert pool.predict(seven(), 42).status == "error"  # not a list of names
    assert pool.predict("not an image", NAMES).status == "error"


def test_a_killed_worker_is_replaced(pool):
    assert pool.predict(seven(), NAMES).status == "ok"
    first = _pid(pool)
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    answer = pool.predict(seven(), NAMES)
    assert answer.status == "ok" and answer.probabilities
    assert _pid(pool) != first


def test_a_hung_worker_costs_one_request(predictor):
    pool = Workers(predictor, 1, timeout=1.0)
    try:
        pool.warm()
        hung = _pid(pool)
        os.kill(hung, signal.SIGSTOP)
        start = time.monotonic()
        answer = pool.predict(seven(), NAMES)
        assert answer.status == "error" and "in time" in answer.message
        assert time.monotonic() - start < 10
        # killed, not left stopped: a stopped process would hold its memory for ever
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists(f"/proc/{hung}"):
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{hung}")
        assert pool.predict(seven(), NAMES).status == "ok"
    finally:
        pool.close()


def test_a_worker_that_cannot_start_leaves_the_work_to_the_server(predictor, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    pool = Workers(predictor, 1)
    answer = pool.predict(seven(), NAMES)
    assert answer.status == "ok" and set(answer.probabilities) == set(NAMES)
    assert pool._free.get() is None  # and it does not try again on every request
    pool._free.put(None)
    assert time.monotonic() < pool._no_start_until


def test_a_drawing_pickle_cannot_carry_is_read_by_the_server(pool):
    answer = pool.predict({"composite": lambda: None, "layers": []}, NAMES)
    assert answer.status == "error" and answer.message.startswith("Cannot read that image")
    deep: list = []
    for _ in range(5000):  # deeper than pickle recurses
        deep = [deep]
    answer = pool.predict(deep, NAMES)
    assert answer.status == "error" and answer.message.startswith("Cannot read that image")
    assert pool.predict(seven(), NAMES).status == "ok"  # the worker was not disturbed


def test_a_worker_stops_with_its_server(tmp_path):
    """The server killed outright (no clean-up ran): its worker sees the socket close and
    exits instead of living on."""
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from webapp.predictor import Predictor
        from webapp.workers import Workers
        pool = Workers(Predictor(), 1)
        pool.warm()
        worker = pool._free.get()
        print(worker.process.pid, flush=True)
        time.sleep(60)
    """))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    server = subprocess.Popen([sys.executable, str(script)], cwd=root, text=True,
                              stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": root})
    try:
        child = int(server.stdout.readline())
        assert os.path.exists(f"/proc/{child}")
        server.kill()
        server.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _running(child):
            time.sleep(0.05)
        assert not _running(child)
    finally:
        server.kill()


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its (dead) parent to be reaped by init."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_default_count(monkeypatch):
    monkeypatch.setenv("ZOO_WORKERS", "0")
    assert workers.default_count() == 0
    monkeypatch.setenv("ZOO_WORKERS", "3")
    assert workers.default_count() == 3
    monkeypatch.delenv("ZOO_WORKERS")
    cores = len(os.sched_getaffinity(0))
    default = workers.default_count()
    assert default == (0 if cores == 1 else 2 if cores == 2 else min(4, cores))
    monkeypatch.setenv("ZOO_WORKERS", "lots")  # a typo must not stop the app from starting
    assert workers.default_count() == default
