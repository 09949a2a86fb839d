"""Fewer trips to Gradio's thread pool per request: the server's Python runs on one core.

Gradio 6.31 hands every synchronous step of a request to its thread pool and waits for it:
the event's function, and also each input's preprocessing and each output's postprocessing
(for /predict, four inputs and one output: six trips per call), and its login check, a
synchronous FastAPI dependency of the upload, queue-join and queue-data routes (three more
per gradio_client call). Each trip wakes a thread while the server's Python is at its
busiest. Here the endpoint's inputs are read and its answer written in the one thread its
function runs in, and the login check, which does no I/O, runs on the event loop.

Two more costs of every request are taken away at start: FastAPI rebuilding each route's
dependencies from their signatures (which it does whenever a dependency is overridden), and
Python searching the whole path for matplotlib, which Gradio imports around every event
and this app does not install.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys
from collections.abc import Iterator

import gradio as gr
from fastapi import FastAPI
from fastapi.dependencies.utils import get_dependant
from gradio.data_classes import GradioModel, GradioRootModel

# What a data model's validator is told when it sees a value Gradio has already checked
# through it and dumped: anything in it was put there by the model, not by a client.
CHECKED = {"checked": True}


def in_one_thread(demo: gr.Blocks, api_name: str) -> None:
    """Preprocess `demo`'s endpoint `api_name`'s inputs and postprocess its output inside
    its function, rather than in a trip each; call once the endpoint is defined. Gradio
    still checks every input against its component's data model and moves its files into
    the cache before the function runs."""
    fn = next(f for f in demo.fns.values() if f.api_name == api_name)
    if len(fn.outputs) != 1:
        raise ValueError(f"/{api_name}: one output, not {len(fn.outputs)}")
    run, inputs, output = fn.fn, list(fn.inputs), fn.outputs[0]

    @functools.wraps(run)
    def one_thread(*values):
        answer = run(*(_preprocess(block, value) for block, value in zip(inputs, values)))
        answer = output.postprocess(answer)
        if isinstance(answer, (GradioModel, GradioRootModel)):
            return answer.model_dump()
        return answer

    # Gradio reads the function's type hints on every call (looking for gr.Request and
    # the like); the wrapped function's are strings (postponed annotations), evaluated
    # each time. The wrapper takes none of those, so it declares no hints.
    one_thread.__annotations__ = {}
    fn.fn, fn.preprocess, fn.postprocess = one_thread, False, False


def _preprocess(block: gr.components.Component, value):
    model = getattr(block, "data_model", None)
    if model is not None and value is not None:
        value = model.model_validate(value, context=CHECKED)
    return block.preprocess(value)


def login_check_on_the_loop(app: FastAPI) -> int:
    """Run Gradio's login check (the same function, the same answer) on the event loop: an
    async dependency that calls it, put in its place in every route's dependencies; returns
    how many places. In place rather than through `app.dependency_overrides`: with any
    override set, FastAPI rebuilds every dependency of every request from its signature
    (4% of the server's CPU under load, py-spy)."""
    dependants = list(_dependants(app.router.routes))
    check = next((d.call for d in dependants
                  if getattr(d.call, "__name__", "") == "login_check"), None)
    if check is None or inspect.iscoroutinefunction(check):
        return 0  # another Gradio: nothing to do, or nothing known to replace
    user = inspect.signature(check).parameters["user"].default  # Depends(get_current_user)

    async def login_check(user: str | None = user) -> None:
        return check(user)

    replaced = 0
    for parent in dependants:
        for i, dep in enumerate(parent.dependencies):
            if dep.call is check:
                parent.dependencies[i] = get_dependant(
                    path=dep.path, call=login_check, name=dep.name, use_cache=dep.use_cache,
                    own_oauth_scopes=dep.own_oauth_scopes, scope=dep.scope,
                    parent_oauth_scopes=dep.parent_oauth_scopes, concurrency=dep.concurrency)
                replaced += 1
    return replaced


def _dependants(routes) -> Iterator:
    """Every dependant in these routes' trees, routers included from other routers too."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            yield from _dependants(included.routes)
            continue
        stack = [route.dependant] if getattr(route, "dependant", None) is not None else []
        while stack:
            dependant = stack.pop()
            yield dependant
            stack.extend(dependant.dependencies)


def no_search_for_matplotlib() -> bool:
    """When matplotlib is not installed, make `import matplotlib` fail at once rather than
    after a search of every folder on the path (Gradio tries twice around every event:
    2.5% of the server's CPU under load). Returns whether it did; an installed matplotlib is
    left alone."""
    if "matplotlib" in sys.modules or importlib.util.find_spec("matplotlib") is not None:
        return False
    sys.modules["matplotlib"] = None  # Python's own mark of a module known to be missing
    return True
