"""A plain JSON endpoint beside Gradio's, for programs: POST /api/predict.

Gradio's /predict goes through an upload, its queue and a stream of server-sent events: three
requests and a session for one answer. A program that has an image wants one request and
one response, so this route takes the image itself and answers with the same JSON as
/predict (`Prediction.to_json`), through the same predictor, checks and limits:

    curl -s --data-binary @seven.png -H 'Content-Type: image/png' \\
         'http://127.0.0.1:7860/api/predict?variants=mlp-h128-int8,cnn-c32c64-float32'
    curl -s -H 'Content-Type: application/json' http://127.0.0.1:7860/api/predict \\
         -d '{"pixels": [[0, 0, ...], ...], "variants": ["mlp-h128-int8"]}'

The body is an image file (PNG, JPEG, WebP...: `Content-Type: image/*`) with the options in
the query string, or JSON {"image": base64 of an image file} or {"pixels": rows of numbers,
any size from 8 to 4096 a side, greyscale, RGB or RGBA}, with "variants", "with_input" and
"explain" beside it. What the drawing turns out to be (a digit, blank, not a digit,
unreadable) is the answer's "status", as on /predict, with HTTP 200; HTTP errors are for a
request that is not one: 400 malformed, 408 a body too slow to arrive, 413 too large, 415
another content type, 503 busy (no turn within 10 s: webapp/turns.py). An image file
declaring more than webapp.canvas.LARGE_PIXELS is decoded at the pace of webapp.turns.LARGE,
outside the ordinary turns.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable

import anyio
import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse

from engine.image import DrawingError
from webapp.canvas import ImageTooLargeError, decode_pixels, is_large, open_image
from webapp.predictor import Prediction
from webapp.turns import LARGE, TURNS, BusyError

MAX_BODY = 8 * 2**20  # as the app's uploads: a 4096x4096 PNG of a drawing is far smaller
BODY_WAIT = 10.0  # seconds the body may take to arrive once the request has its turn
ROUTE = "/api/predict"

Answer = Callable[[object, object, bool], Prediction]


class BadRequestError(ValueError):
    """A request this endpoint cannot take; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _image(data: bytes):
    """An image file's image, or the HTTP error that says why not."""
    try:
        return open_image(data)
    except ImageTooLargeError as e:
        raise BadRequestError(str(e), 413) from None
    except DrawingError as e:
        raise BadRequestError(str(e)) from None


def parse(body: bytes, content_type: str, query: dict[str, list[str]]) -> tuple:
    """(drawing, variants, with_input, explain) from a request's body and query string."""
    kind = content_type.split(";")[0].strip().lower()
    if kind.startswith("image/"):
        variants = [n for v in query.get("variants", []) for n in v.split(",") if n]
        options = {k: v[-1] for k, v in query.items()}
        return (_image(body), variants, _flag(options.get("with_input")),
                _flag(options.get("explain")))
    if kind != "application/json":
        raise BadRequestError(f"send an image (Content-Type: image/png ...) or JSON "
                              f"(application/json), not {kind or 'no content type'}", 415)
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise BadRequestError(f"the body is not JSON ({e})") from None
    if not isinstance(request, dict):
        raise BadRequestError("the JSON body must be an object: {\"image\" or \"pixels\", "
                              "\"variants\", \"with_input\", \"explain\"}")
    unknown = set(request) - {"image", "pixels", "variants", "with_input", "explain"}
    if unknown:
        raise BadRequestError(f"unknown fields {sorted(unknown)}; expected image or pixels, "
                              "variants, with_input, explain")
    if ("image" in request) == ("pixels" in request):
        raise BadRequestError("send exactly one of \"image\" (base64 of an image file) and "
                              "\"pixels\" (rows of numbers)")
    if "image" in request:
        if not isinstance(request["image"], str):
            raise BadRequestError("\"image\" must be a base64 string of an image file")
        try:
            data = base64.b64decode(request["image"], validate=True)
        except (binascii.Error, ValueError) as e:  # ValueError: not ASCII
            raise BadRequestError(f"\"image\" is not base64 ({e})") from None
        drawing = _image(data)
    else:
        drawing = request["pixels"]
        if not isinstance(drawing, list):
            raise BadRequestError("\"pixels\" must be a list of rows of numbers")
    return (drawing, request.get("variants"), _flag(request.get("with_input")),
            _flag(request.get("explain")))


def _check_length(request: Request) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BadRequestError(f"the body may hold at most {MAX_BODY:,} bytes", 413)


async def _body(request: Request) -> bytes:
    """The body, refused past MAX_BODY bytes whatever Content-Length claimed."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequestError(f"the body may hold at most {MAX_BODY:,} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def endpoint(answer: Answer) -> Callable:
    """The route's handler: `answer(drawing, variants, explain)` is the app's prediction.

    The turn comes first: a waiting request's body stays with the client (the network's
    flow control), so a crowd costs no memory, and nothing is decoded outside a turn.
    """

    def finish(drawing, variants, with_input: bool, explain: bool) -> dict:
        if is_large(drawing):
            drawing = decode_pixels(drawing)
        return answer(drawing, variants, explain).to_json(with_input=with_input)

    def run(body: bytes, content_type: str, query: dict) -> dict | tuple:
        """The answer, or for a large image what it needs (answered at LARGE's pace)."""
        parsed = parse(body, content_type, query)
        return parsed if is_large(parsed[0]) else finish(*parsed)

    async def predict(request: Request) -> JSONResponse:
        try:
            _check_length(request)  # refused at once, without waiting for a turn
            async with TURNS.turn():
                try:
                    body = await asyncio.wait_for(_body(request), BODY_WAIT)
                except TimeoutError:
                    raise BadRequestError(f"the body took over {BODY_WAIT:g} s to arrive",
                                          408) from None
                query = {k: request.query_params.getlist(k) for k in request.query_params}
                result = await anyio.to_thread.run_sync(
                    run, body, request.headers.get("content-type", ""), query)
            if isinstance(result, tuple):  # a large image: paced, the ordinary turn given back
                result = await anyio.to_thread.run_sync(LARGE.run, finish, *result)
            return JSONResponse(result)
        except BusyError as e:
            error, status = str(e), 503
        except BadRequestError as e:
            error, status = str(e), e.status
        answer_ = Prediction("error", f"Bad request: {error}", np.zeros((28, 28)))
        return JSONResponse(answer_.to_json(), status_code=status)

    return predict


def mount(app, answer: Answer) -> None:
    """Add POST /api/predict to a FastAPI/Starlette `app` (Gradio's own, once launched)."""
    app.add_api_route(ROUTE, endpoint(answer), methods=["POST"], include_in_schema=True,
                      summary="One drawing's answers from the selected variants, as JSON")
