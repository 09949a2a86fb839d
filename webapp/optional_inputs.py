"""The API endpoint's optional inputs, left out of a raw HTTP call.

gradio_client fills in every input a call leaves out with its default; a raw POST to
/gradio_api/call/<name> with fewer values than the endpoint has inputs is refused by
Gradio 6.31 with an error it shows no client ({"error": null}). Here the trailing inputs
past the required ones take their components' values, as from gradio_client, and a call
without the required ones is told which it lacks.
"""

from __future__ import annotations

import inspect

import gradio as gr


def optional_inputs(demo: gr.Blocks, api_name: str, required: int) -> None:
    """Let calls to `demo`'s endpoint `api_name` leave out all but its first `required`
    inputs; call once the endpoint is defined."""
    fn = next(f for f in demo.fns.values() if f.api_name == api_name)
    names = list(inspect.signature(fn.fn).parameters)[:len(fn.inputs)]
    preprocess = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, *args, **kwargs):
        if block_fn is fn and len(inputs) < len(fn.inputs):
            if len(inputs) < required:
                raise gr.Error(f"/{api_name} needs {', '.join(names[:required])} (its inputs: "
                               f"[{', '.join(names)}], the others optional); this call sent "
                               f"{len(inputs)} value(s)")
            inputs = [*inputs, *(block.value for block in fn.inputs[len(inputs):])]
        return await preprocess(block_fn, inputs, *args, **kwargs)

    demo.preprocess_data = preprocess_data
