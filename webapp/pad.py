"""The Sketchpad the app serves: Gradio's, with every way in bounded.

After each stroke, Gradio 6.31's ImageEditor (the Sketchpad) posts the stroke's PNGs to the
server, which keeps them in a dict until an event reads them by id. When the page sends the
event with uploaded files instead (it often does, racing with its own id), the posted blobs
stay for good; and any client may post a layer index of 10**9 (the list grows to it). Its
decoding converts a whole image before anything checks its size. Here the blob store keeps
the newest few, kinds and indexes are checked, an image's size is read from its header
before it is decoded, and only the image the models read is decoded: the composite when
there is one.

A refused image does not raise: the value then carries {"error": reason}, which the app
answers as status "error", like any other unreadable drawing. So does a value that is not a
Sketchpad value at all (which Gradio would otherwise read as an empty pad, or refuse with
an error no client is shown); a plain image file, as a script sends it, is the composite.

The bounds are put on a gr.Sketchpad instance rather than a subclass: Gradio writes a .pyi
stub beside any module that defines a component class, which would land in zoo/.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import MutableMapping
from io import BytesIO
from pathlib import Path
from types import MethodType

import gradio as gr
import numpy as np
from gradio.components.base import server
from gradio.components.image_editor import AcceptBlobs, EditorData, EditorDataBlobs
from gradio.data_classes import FileData
from pydantic import ValidationError, ValidationInfo, model_validator
from pydantic.json_schema import SkipJsonSchema

from engine.image import DrawingError
from webapp.canvas import (
    DRAWING,
    KEYS,
    MAX_LAYERS,
    decode_pixels,
    is_large,
    not_a_drawing,
    read_header,
)
from webapp.turns import LARGE, BusyError

MAX_PENDING = 1024  # strokes whose blobs wait for their event (each a few KB from a browser)
MAX_PENDING_BYTES = 64 * 2**20  # ... and at most this much of them, whoever posts them


class RefusedImageError(ValueError):
    """An upload the app will not decode (too large, not an image, too many layers)."""


def _size(entry) -> int:
    parts = [getattr(entry, "background", None), getattr(entry, "composite", None),
             *(getattr(entry, "layers", None) or [])]
    return sum(len(p) for p in parts if isinstance(p, (bytes, bytearray)))


class BlobStore(MutableMapping):
    """The newest entries, at most `limit` of them and `budget` bytes; the oldest go first."""

    def __init__(self, limit: int = MAX_PENDING, budget: int = MAX_PENDING_BYTES):
        self.limit, self.budget, self.nbytes = limit, budget, 0
        self._entries: OrderedDict = OrderedDict()
        self._sizes: dict = {}

    def __getitem__(self, key):
        return self._entries[key]

    def __setitem__(self, key, value) -> None:
        if key in self._entries:
            del self[key]
        self._entries[key] = value
        self._sizes[key] = _size(value)
        self.nbytes += self._sizes[key]
        while len(self) > self.limit or (self.nbytes > self.budget and len(self) > 1):
            del self[next(iter(self._entries))]

    def __delitem__(self, key) -> None:
        del self._entries[key]
        self.nbytes -= self._sizes.pop(key)

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class DrawingData(EditorData):
    """The drawing: the Sketchpad's value {"background", "layers", "composite"} (image files
    or None), or one image file, read as the composite."""

    # (The docstring above is the API page's description of the input.) A plain image file
    # is read as the composite, so it is bounded like one; anything else carries the error
    # saying what a drawing must be, rather than reading as an empty pad.
    error: SkipJsonSchema[str | None] = None  # set here only, never by the client

    @model_validator(mode="wrap")
    @classmethod
    def _sketchpad_value(cls, value, handler, info: ValidationInfo):
        if isinstance(value, dict) and value.get("error") and (info.context or {}).get(
                "checked"):  # this model's own dump (webapp.handoffs): the error is ours
            return cls.model_construct(error=str(value["error"]))
        ours = isinstance(value, dict) and any(k in value for k in (*KEYS, "id"))
        if not ours and FileData.is_file_data(value):  # a script's handle_file("digit.png")
            value, ours = {"composite": value}, True
        if not ours:
            return cls.model_construct(error=not_a_drawing(value))
        try:
            return handler({k: v for k, v in value.items() if k != "error"})
        except ValidationError as e:
            first = e.errors()[0]
            where = f'its "{first["loc"][0]}"' if first["loc"] else "it"
            return cls.model_construct(error=f"{DRAWING}; {where} is not valid ({first['msg']})")


def sketchpad(**kwargs) -> gr.Sketchpad:
    """gr.Sketchpad(**kwargs) with a bounded blob store, checked blobs and checked decoding."""
    pad = gr.Sketchpad(**kwargs)
    pad.data_model = DrawingData
    pad.blob_storage = BlobStore()
    pad.accept_blobs = MethodType(_accept_blobs, pad)
    pad.preprocess = MethodType(_preprocess, pad)
    return pad


@server
def _accept_blobs(self: gr.Sketchpad, data: AcceptBlobs) -> None:
    kind, index = data.data["type"], data.data["index"]
    if kind not in ("background", "composite", "layer") or not data.files:
        raise gr.Error("a blob is a background, a composite or a layer")
    if kind == "layer":
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise gr.Error("a layer blob needs its index") from None
        if not 0 <= index < MAX_LAYERS:
            raise gr.Error(f"at most {MAX_LAYERS} layers")
        data.data["index"] = index
    type(self).accept_blobs(self, data)


def _decode(self: gr.Sketchpad, file, flatten_on_white: bool = False):
    """Gradio's decoding, once the header has said the image is small enough; an image
    declaring more than LARGE_PIXELS (no browser's pad sends one) is decoded by OpenCV,
    which lets the server's other threads run, one at a time at LARGE's pace, as the JSON
    endpoint decodes it."""
    if file is None:
        return None
    source = file.path if hasattr(file, "path") else BytesIO(file)
    try:  # any format Pillow reads, as Gradio's own decoding would take
        with read_header(source, formats=None) as header:
            large = is_large(header)
    except DrawingError as e:
        raise RefusedImageError(str(e)) from e
    if not large:
        return self.convert_and_format_image(file, flatten_on_white)

    def pixels():  # the file's bytes read only for such an image, in its paced turn
        data = Path(source).read_bytes() if isinstance(source, str) else source.getvalue()
        with read_header(BytesIO(data), formats=None) as image:
            decoded = decode_pixels(image)
        if isinstance(decoded, np.ndarray):
            return decoded
        return self.convert_and_format_image(file, flatten_on_white)  # Pillow's formats

    try:
        return LARGE.run(pixels)
    except BusyError as e:
        raise RefusedImageError(str(e)) from e


def _preprocess(self: gr.Sketchpad, payload: EditorData | None) -> dict | None:
    if payload is None:
        return None
    empty = {"background": None, "layers": [], "composite": None}
    if getattr(payload, "error", None):
        return {**empty, "error": payload.error}
    source = payload
    if payload.id is not None:
        source = self.blob_storage.pop(payload.id, None) or EditorDataBlobs(
            background=None, layers=[], composite=None)
    try:
        if source.composite is not None:  # all the models read; the rest is not decoded
            return {**empty, "composite": _decode(self, source.composite, True)}
        layers = [x for x in source.layers or [] if x is not None]
        if len(layers) > MAX_LAYERS:
            raise RefusedImageError(f"at most {MAX_LAYERS} layers, not {len(layers)}")
        return {"background": _decode(self, source.background, True),
                "layers": [_decode(self, x) for x in layers], "composite": None}
    except RefusedImageError as e:
        return {**empty, "error": str(e)}
    except (OSError, ValueError, SyntaxError) as e:  # a header that lied about the data
        return {**empty, "error": f"unreadable image file ({e})"}
