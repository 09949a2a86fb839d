"""Fewer trips to Gradio's thread pool per request: the server's Python runs on one core.

Gradio 6.31 hands every synchronous step of a request to its thread pool and waits for it:
the event's function, and also each input's preprocessing and each output's postprocessing
(for /predict, four inputs and one output: six trips per call), and its login check, a
synchronous FastAPI dependency of the upload, queue-join and queue-data routes (three more
per gradio_client call). Each trip wakes a thread while the server's Python is at its
busiest. Here the endpoint's inputs are read and its answer written in the one thread its
function runs in, and the login check, which does no I/O, runs on the event loop.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr
from fastapi import FastAPI
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


def login_check_on_the_loop(app: FastAPI) -> None:
    """Run Gradio's login check (the same function, the same answer) on the event loop:
    an override of the FastAPI dependency by an async one that calls it."""
    check = next((dep.call for route in app.routes for dep in getattr(
        getattr(route, "dependant", None), "dependencies", ()) if
        getattr(dep.call, "__name__", "") == "login_check"), None)
    if check is None or inspect.iscoroutinefunction(check):
        return  # another Gradio: nothing to do, or nothing known to override
    user = inspect.signature(check).parameters["user"].default  # Depends(get_current_user)

    async def login_check(user: str | None = user) -> None:
        return check(user)

    app.dependency_overrides[check] = login_check
