"""Turns for the answers computed outside Gradio's queue: the page's strokes and the JSON
endpoint share a few, so at most that many drawings are worked on at once.

A turn is waited for on the event loop, not in a worker thread: those threads are shared
with everything Gradio runs, and a crowd waiting in them would starve the rest. The work
then runs in a thread, so the loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from functools import partial

import anyio

CONCURRENCY = 4  # drawings worked on at once; with the GIL, more would only queue inside
WAIT = 10.0  # seconds a request waits for a turn before it is told the server is busy


class BusyError(RuntimeError):
    """No turn came within the wait."""


class Turns:
    """`n` turns, each awaited for at most `wait` seconds."""

    def __init__(self, n: int = CONCURRENCY, wait: float = WAIT):
        self.n, self.wait = n, wait
        # one semaphore per event loop: asyncio's belong to the loop that first waits on them
        self._free: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        free = self._free.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(self.n))
        try:
            if free.locked():  # a timer only for those who wait
                await asyncio.wait_for(free.acquire(), self.wait)
            else:
                await free.acquire()
        except TimeoutError:
            raise BusyError(f"the server is busy: no turn within {self.wait:g} s; "
                            "try again") from None
        try:
            yield
        finally:
            free.release()

    async def run(self, fn: Callable, *args):
        """`fn(*args)` in a worker thread, in a turn."""
        async with self.turn():
            return await anyio.to_thread.run_sync(partial(fn, *args))


TURNS = Turns()


class Pace:
    """Work that costs far more than a drawing (decoding a many-megapixel image: 70 ms of a
    core for 16 Mpx) runs one at a time, and together takes at most `share` of one core:
    a client sending such images back to back must not take a core from everyone else. At
    most `waiting` callers wait (each in a thread, holding its request), each at most
    `wait` seconds; past either, BusyError."""

    def __init__(self, share: float = 0.1, waiting: int = 2, wait: float = WAIT):
        self.share, self.max_waiting, self.wait = share, waiting, wait
        self._lock, self._count = threading.Lock(), threading.Lock()
        self._waiting, self._next = 0, 0.0

    def run(self, fn: Callable, *args):
        """`fn(*args)` in its turn, after the pause the last one's cost asks for."""
        with self._count:
            if self._waiting >= self.max_waiting:
                raise BusyError("the server is busy with large images; try again")
            self._waiting += 1
        try:
            if not self._lock.acquire(timeout=self.wait):
                raise BusyError(f"the server is busy: no turn for a large image within "
                                f"{self.wait:g} s; try again")
        finally:
            with self._count:
                self._waiting -= 1
        try:
            pause = self._next - time.monotonic()
            if pause > 0:
                time.sleep(min(pause, self.wait))
            start = time.monotonic()
            try:
                return fn(*args)
            finally:
                end = time.monotonic()
                self._next = end + (end - start) * (1 / self.share - 1)
        finally:
            self._lock.release()


LARGE = Pace()
