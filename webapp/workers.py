"""The model work in processes of their own, so that the server uses more than one core.

The server's own Python (Gradio's HTTP, queue and event stream) holds one core through the
GIL; preprocessing a drawing and running the variants is most of the rest of a request's
CPU and holds the same lock while it runs (small NumPy calls release it too briefly to
matter). A worker process runs it on another core: the server sends the drawing, the
variant names and `explain`, and gets the `Prediction` back.

A worker is `python -m webapp.workers` on one end of a socket pair: it reads the zoo (the
server's own, already resolved: the same files, the same Hub commit) and then answers one
request at a time until the server closes its end, so it never outlives the server. It
starts on first use. One that cannot start leaves the request to the server's own
predictor; one that dies or overruns `timeout` while reading a drawing is killed, that
request answers an error, and the next request starts a new one.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection

import cv2
import numpy as np

from engine.image import WORK_SIDE, working_image
from webapp.canvas import to_array
from webapp.predictor import Prediction, Predictor

log = logging.getLogger("digit_zoo.workers")
TIMEOUT = 30.0  # seconds a worker may take over one drawing before it is killed
START_TIMEOUT = 60.0  # seconds a new worker may take to import and read the zoo
RETRY_START = 60.0  # seconds after a worker failed to start before another is tried


def default_count() -> int:
    """Workers for this machine: one per core, at most four, none on one core (ZOO_WORKERS
    sets it; 0 runs the models in the server's process). Two on two cores, not one: with
    one, a drawing waits for the worker while it reads another, and the worker waits while
    the server's Python answers HTTP (bench/load.py, pairs of runs: 13-17% more answers a
    second through Gradio's queue, 40% through the JSON endpoint)."""
    cores = len(os.sched_getaffinity(0))
    default = min(4, cores) if cores > 1 else 0
    value = os.environ.get("ZOO_WORKERS", "").strip()
    if not value:
        return default
    try:
        return max(0, int(value))
    except ValueError:
        log.warning("ZOO_WORKERS=%r is not a number of workers; using %d", value, default)
        return default


class _Worker:
    """One worker process and the server's end of its socket."""

    def __init__(self, predictor: Predictor):
        ours, theirs = socket.socketpair()
        # one drawing's matrices are small: BLAS threads would only fight the server's
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONPATH": path}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webapp.workers", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        try:
            self.conn.send((predictor.zoo, predictor.load_wait))
            if not self.conn.poll(START_TIMEOUT) or self.conn.recv() != "ready":
                raise RuntimeError(f"no word within {START_TIMEOUT:g} s")
        except BaseException:
            self.close()
            raise

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class Workers:
    """`Predictor.predict` run by `n` worker processes: a request takes whichever is free."""

    def __init__(self, predictor: Predictor, n: int = 1, timeout: float = TIMEOUT):
        if n < 1:
            raise ValueError("at least one worker")
        self.predictor, self.timeout, self.n = predictor, timeout, n
        self._free: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(n):
            self._free.put(None)  # started on first use
        self._no_start_until = 0.0

    def predict(self, drawing, names: list[str] | str, explain: bool = False) -> Prediction:
        worker = self._free.get()  # callers are few: the app bounds its concurrent requests
        try:
            worker = self._ready(worker)
            if worker is None:  # no worker to be had: the server does the work itself
                return self.predictor.predict(drawing, names, explain=explain)
            try:
                worker.conn.send((_small(drawing), names, bool(explain)))
            except Exception as e:  # a payload pickle cannot carry: the server's own check
                log.info("drawing not sent to a worker (%s); read in the server", e)
                return self.predictor.predict(drawing, names, explain=explain)
            try:
                if not worker.conn.poll(self.timeout):
                    raise TimeoutError(f"no answer within {self.timeout:g} s")
                answer = worker.conn.recv()
            except (OSError, EOFError, TimeoutError) as e:
                log.warning("model worker %s stopped: %s", worker.process.pid, e)
                worker.close()
                worker = None
                return Prediction("error", "The server could not read this drawing in time; "
                                           "draw again.", np.zeros((28, 28)))
            if isinstance(answer, BaseException):
                raise answer
            return answer
        finally:
            self._free.put(worker)

    def _ready(self, worker: _Worker | None) -> _Worker | None:
        if worker is not None and worker.alive():
            return worker
        if worker is not None:
            worker.close()
        if time.monotonic() < self._no_start_until:
            return None
        try:
            return _Worker(self.predictor)
        except Exception as e:
            log.warning("no model worker (%s): the server reads drawings itself for %g s",
                        e, RETRY_START)
            self._no_start_until = time.monotonic() + RETRY_START
            return None

    def warm(self) -> None:
        """Start the workers now rather than on the first drawing (a second's imports)."""
        taken = [self._free.get() for _ in range(self.n)]
        try:
            taken = [self._ready(w) for w in taken]
        finally:
            for w in taken:
                self._free.put(w)

    def close(self) -> None:
        """Stop every idle worker (each also stops when the server's process ends)."""
        while True:
            try:
                worker = self._free.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                worker.close()


def _small(drawing):
    """The drawing at preprocessing's working resolution when it is larger: the same
    answer (preprocessing starts with this very step, and it leaves a working image as it
    is), but a 4096 px canvas crosses to the worker as 1 MB, not 64, and the resize, which
    releases the GIL, runs in the server's thread rather than holding the one worker."""
    try:
        image = to_array(drawing)
        if isinstance(image, np.ndarray) and image.ndim >= 2 \
                and max(image.shape[:2]) > WORK_SIDE:
            return working_image(image)
        return image
    except Exception:  # the worker's checks answer it, with the predictor's own message
        return drawing


def serve(fd: int) -> None:
    """A worker's life: the zoo, then one answer per request until the server hangs up."""
    conn = Connection(fd)
    # A drawing's images are small: OpenCV's threads, like BLAS's, would only take turns
    # with the server and the other workers.
    cv2.setNumThreads(1)
    try:
        source, load_wait = conn.recv()
        predictor = Predictor(source=source, load_wait=load_wait)
        conn.send("ready")
        while True:
            drawing, names, explain = conn.recv()
            try:
                answer = predictor.predict(drawing, names, explain=explain)
            except Exception as e:  # sent back and raised in the server, as in-process
                answer = e
            try:
                conn.send(answer)
            except Exception as e:  # an exception pickle cannot carry
                conn.send(RuntimeError(f"{type(answer).__name__}: {e}"))
    except EOFError:  # the server closed its end: it has stopped or let this worker go
        return


if __name__ == "__main__":
    serve(int(sys.argv[1]))
