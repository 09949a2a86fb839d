"""From whatever a caller sends to a small RGBA image the rest of the pipeline can afford.

A drawing may be a 4096x4096 upload, a list of lists parsed from JSON, an int64 array or
something that is no image at all. Every later step costs time in proportion to the pixels
it sees, so the size is checked before anything is converted or copied, and the image is
then brought to a working resolution (long side at most WORK_SIDE) by OpenCV's area
interpolation, the one step that touches every input pixel. Values are read by their
actual range, not their dtype's: 0-255 ints arrive as int64 once parsed from JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

MIN_SIDE, MAX_SIDE = 8, 4096
WORK_SIDE = 512  # 1.8x the app's 280 px pad: a digit keeps its detail, the cost stays flat
# The dtypes cv2.resize takes as they are; any other is converted one channel at a time.
_CV_DTYPES = {np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)}


class DrawingError(ValueError):
    """Input that is not an image this pipeline can read; the message says why."""


def image_shape(drawing) -> tuple[int, ...]:
    """The shape `drawing` would have as an array, found without converting it, and checked
    against the size limits: a request cannot make the server allocate before this."""
    if isinstance(drawing, (str, bytes, Mapping)):
        raise DrawingError(f"expected an image array, got {type(drawing).__name__}")
    if isinstance(drawing, np.ndarray):
        if drawing.dtype.kind not in "biuf":
            raise DrawingError(f"unsupported image dtype {drawing.dtype}")
        shape = drawing.shape
    elif isinstance(drawing, (list, tuple)):
        shape = _nested_shape(drawing)
    elif hasattr(drawing, "getbands") and hasattr(drawing, "size"):  # a PIL image
        w, h = drawing.size
        shape = (h, w, len(drawing.getbands()))
    elif hasattr(drawing, "shape"):  # other array types (a tensor, a memory map)
        shape = tuple(drawing.shape)
    else:
        raise DrawingError(f"cannot read {type(drawing).__name__} as an image")
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:2]
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (3, 4)):
        raise DrawingError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, "
                           f"got shape {tuple(shape)}")
    h, w = shape[:2]
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise DrawingError(f"image of {w}x{h} pixels is outside {MIN_SIDE}..{MAX_SIDE} per side")
    return tuple(shape)


def _nested_shape(seq) -> tuple[int, ...]:
    """Lengths down the first elements of nested lists, at most 3 deep (a list nested 5,000
    deep is refused here, before NumPy or Python's recursion limit meet it)."""
    shape, x = [], seq
    while isinstance(x, (list, tuple)):
        if len(shape) == 3:
            raise DrawingError("expected an image, got lists nested more than 3 deep")
        shape.append(len(x))
        if not x:
            break
        x = x[0]
    if isinstance(x, np.ndarray):  # a list of rows that are arrays
        shape.extend(x.shape)
    return tuple(shape)


def checked_array(drawing) -> np.ndarray:
    """The drawing as a NumPy array of a numeric dtype, after its size is known to be sane;
    None (a cleared pad) is a blank canvas."""
    if drawing is None:
        return np.zeros((28, 28), np.uint8)
    shape = image_shape(drawing)
    try:
        array = np.asarray(drawing)
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        raise DrawingError(f"cannot read {type(drawing).__name__} as an image: {e}") from e
    if array.dtype.kind not in "biuf":
        raise DrawingError(f"cannot read {type(drawing).__name__} as an image "
                           f"(values of type {array.dtype})")
    if array.shape[:2] != shape[:2] or image_shape(array) != shape:  # what NumPy made of it
        raise DrawingError(f"cannot read {type(drawing).__name__} as an image: "
                           f"shape {array.shape}")
    return array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array


def working_size(h: int, w: int) -> tuple[int, int]:
    """(height, width) with the long side at most WORK_SIDE, short side kept at MIN_SIDE."""
    scale = min(1.0, WORK_SIDE / max(h, w))
    return max(min(h, MIN_SIDE), round(h * scale)), max(min(w, MIN_SIDE), round(w * scale))


def _shrink(array: np.ndarray) -> np.ndarray:
    """Area-average down to the working size, in the input's own dtype where OpenCV takes it
    (no full-size float copy), else one channel at a time through float32.

    Whole-number factors first: OpenCV averages k x k blocks three times faster than
    fractional areas. The up to k-1 rows and columns this leaves out at the bottom and
    right are less than one working pixel.
    """
    if array.dtype == bool:
        array = array.view(np.uint8)
    h, w = array.shape[:2]
    th, tw = working_size(h, w)
    if (th, tw) == (h, w):
        return array
    ky, kx = h // th, w // tw
    steps = [(w // kx, h // ky), (tw, th)] if ky * kx > 1 else [(tw, th)]
    array = array[:h - h % ky, :w - w % kx]

    def shrink(plane: np.ndarray) -> np.ndarray:
        for size in steps:
            if size != plane.shape[1::-1]:
                plane = cv2.resize(plane, size, interpolation=cv2.INTER_AREA)
        return plane

    if array.dtype in _CV_DTYPES:
        return shrink(array)
    planes = array[..., None] if array.ndim == 2 else array
    small = [shrink(np.ascontiguousarray(planes[..., c], dtype=np.float32))
             for c in range(planes.shape[-1])]
    return small[0] if array.ndim == 2 else np.stack(small, axis=-1)


def value_range(small: np.ndarray) -> tuple[float, float]:
    """The range the values were written in: [0, 1], [0, 255] or [0, 65535] when they fit,
    else their actual minimum and maximum (so a list of 0-255 ints is 8-bit, whatever its
    dtype, and a 0/1 mask is a mask)."""
    lo, hi = float(small.min()), float(small.max())
    if lo >= 0:  # float32 averaging may overshoot a range's top by a rounding error
        return 0.0, next((top for top in (1.0, 255.0, 65535.0) if hi <= top * 1.001), hi)
    return lo, hi if hi > lo else lo + 1.0


def working_image(drawing) -> np.ndarray:
    """Any image -> (h, w, C) float32 in [0, 1], long side at most WORK_SIDE; C is 1 (grey),
    3 (RGB) or 4 (RGBA), as sent."""
    small = _shrink(checked_array(drawing))
    # float64 only where the input was: huge finite values must not turn into inf.
    a = small.astype(np.float64 if small.dtype == np.float64 else np.float32)
    if not np.isfinite(a).all():  # area averaging carries any NaN or inf through
        raise DrawingError("image contains NaN or infinite values")
    lo, hi = value_range(a)
    if (lo, hi) != (0.0, 1.0):
        a = (a - lo) * (1.0 / (hi - lo))
    a = a.clip(0, 1).astype(np.float32, copy=False)
    return a[..., None] if a.ndim == 2 else a


def as_rgba(image: np.ndarray) -> np.ndarray:
    """A working image (1, 3 or 4 channels) as RGBA: opaque where it has no alpha."""
    channels = image.shape[-1]
    if channels == 4:
        return image
    rgb = np.repeat(image, 3, axis=-1) if channels == 1 else image
    return np.concatenate([rgb, np.ones_like(rgb[..., :1])], axis=-1)
