"""What arrives from a Sketchpad or an API client, reduced to the one image it holds.

Gradio's Sketchpad/ImageEditor sends {"background", "layers", "composite"}; the engine
takes arrays, so the unwrapping happens here, at the serving edge. The value comes from
the network: its structure is checked, and every layer's size, before any pixel is read;
layers are flattened at the working resolution, never at the upload's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from io import BytesIO

import cv2
import numpy as np
import PIL.Image

from engine.image import MAX_SIDE, DrawingError, as_rgba, image_shape, working_image

MAX_LAYERS = 4  # the app's pad sends one; an API client has no use for many
LARGE_PIXELS = 2**20  # an image file declaring more is decoded at the pace of webapp.turns.LARGE
MAX_LAYER_PIXELS = 2 * MAX_SIDE * MAX_SIDE  # background and layers together: two full canvases
KEYS = ("background", "layers", "composite")
DRAWING = ('the drawing must be a Sketchpad value {"background", "layers", "composite"} or '
           'an image (gradio_client: handle_file("digit.png"))')


def not_a_drawing(value) -> str:
    """What a drawing must be, said to a client that sent `value` instead."""
    what = ("a dict without those keys" if isinstance(value, Mapping)
            else f"a value of type {type(value).__name__}")
    return f"{DRAWING}, not {what}"


def to_array(drawing):
    """The image inside a Sketchpad value, or the value itself; None for a cleared pad."""
    if not isinstance(drawing, Mapping):
        return drawing
    if not any(k in drawing for k in KEYS):  # an empty pad has them all, set to None
        raise DrawingError(not_a_drawing(drawing))
    layers = drawing.get("layers")
    if layers is None:
        layers = []
    if not isinstance(layers, (list, tuple)):
        raise DrawingError(f"layers must be a list of images, got {type(layers).__name__}")
    if len(layers) > MAX_LAYERS:
        raise DrawingError(f"at most {MAX_LAYERS} layers, not {len(layers)}")
    for key in ("composite", "background"):
        if isinstance(drawing.get(key), Mapping):
            raise DrawingError(f"{key} must be an image, got a dict")
    if drawing.get("composite") is not None:
        return drawing["composite"]
    images = [x for x in (drawing.get("background"), *layers) if x is not None]
    if not images:
        return None
    shapes = [image_shape(x) for x in images]  # every limit checked before any conversion
    if any(s[:2] != shapes[0][:2] for s in shapes):
        raise DrawingError(f"layers of sizes {sorted({s[:2] for s in shapes})} do not match")
    if len(images) * shapes[0][0] * shapes[0][1] > MAX_LAYER_PIXELS:
        raise DrawingError(f"{len(images)} layers of {shapes[0][1]}x{shapes[0][0]} pixels "
                           f"are more than {MAX_LAYER_PIXELS:,} pixels in all")
    return flatten_layers([as_rgba(working_image(x)) for x in images])


def flatten_layers(layers: list[np.ndarray]) -> np.ndarray:
    """Alpha-composite same-sized float RGBA layers over the background (the first)."""
    base = layers[0]
    for top in layers[1:]:
        a = top[..., 3:4]
        base = np.concatenate([top[..., :3] * a + base[..., :3] * (1 - a),
                               a + base[..., 3:4] * (1 - a)], axis=-1)
    return base


# What a drawing comes as; Pillow's other decoders (PSD, FITS, EPS...) are not offered.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")


class ImageTooLargeError(DrawingError):
    """An image file declaring more pixels a side than the app reads."""


def read_header(source, formats: tuple[str, ...] | None = FORMATS) -> PIL.Image.Image:
    """An image file (a path or a file object) opened on its header only, and refused if it
    declares more than MAX_SIDE pixels a side: nothing is decoded yet."""
    try:
        im = PIL.Image.open(source, formats=formats)
    except PIL.Image.DecompressionBombError as e:  # PIL's own, lower, limit
        raise ImageTooLargeError(f"image of over {MAX_SIDE}x{MAX_SIDE} pixels") from e
    except PIL.UnidentifiedImageError as e:
        kinds = ", ".join(formats) if formats else "PNG, JPEG, WebP..."
        raise DrawingError(f"not an image file ({kinds})") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DrawingError(f"unreadable image file ({e})") from e
    w, h = im.size
    if max(w, h) > MAX_SIDE:
        im.close()
        raise ImageTooLargeError(f"image of {w}x{h} pixels: at most {MAX_SIDE} a side")
    return im


def open_image(data: bytes) -> PIL.Image.Image:
    """An image file (PNG, JPEG, WebP...) as an image the engine reads, its size read from
    the header and checked before any pixel is decoded."""
    im = read_header(BytesIO(data))
    try:  # palette, two-band and exotic modes would read as the wrong number of channels
        return im if im.mode in ("L", "RGB", "RGBA") else im.convert("RGBA")
    except (OSError, SyntaxError, ValueError) as e:
        raise DrawingError(f"unreadable image file ({e})") from e


def open_data_url(url: object, max_chars: int = 16 * 2**20) -> PIL.Image.Image:
    """The image in a `data:image/...;base64,` URL, what a browser's canvas exports."""
    if not isinstance(url, str):
        raise DrawingError("a drawing is a data:image/...;base64 URL")
    if len(url) > max_chars:
        raise DrawingError(f"a drawing is a data URL of at most {max_chars:,} characters")
    head, _, data = url.partition(",")
    if not (head.startswith("data:image/") and head.endswith(";base64")):
        raise DrawingError("a drawing is a data:image/...;base64 URL")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:  # ValueError: not ASCII
        raise DrawingError(f"the drawing's data URL is not base64 ({e})") from None
    return open_image(decoded)


def is_large(image) -> bool:
    """An image file whose header declares more than LARGE_PIXELS (not yet decoded)."""
    size = getattr(image, "size", None)
    return isinstance(size, tuple) and len(size) == 2 and size[0] * size[1] > LARGE_PIXELS


def decode_pixels(image: PIL.Image.Image):
    """A large image's pixels, decoded by OpenCV, which lets other threads run meanwhile
    (Pillow holds the GIL while it decodes: 70 ms of a stalled server for 16 Mpx): the
    same values as Pillow's for a lossless file, as RGB(A). Anything else (JPEG, 16-bit,
    palettes, other modes) stays with Pillow: `image` itself is returned."""
    source = getattr(image, "fp", None)
    if not isinstance(source, BytesIO) or image.format not in ("PNG", "BMP") \
            or image.mode not in ("L", "RGB", "RGBA"):
        return image
    pixels = cv2.imdecode(np.frombuffer(source.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    shape = image.size[::-1] + {"L": (), "RGB": (3,), "RGBA": (4,)}[image.mode]
    if pixels is None or pixels.dtype != np.uint8 or pixels.shape != shape:
        return image
    if image.mode == "RGB":
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA) if image.mode == "RGBA" else pixels
