"""Hostile and careless input: bounded work per drawing, an answer for every payload.

Cost is asserted on what reaches OpenCV and on what is allocated (tracemalloc sees NumPy's
allocations), never on wall-clock time; bench/hostile.py prints the times.
"""

import tracemalloc

import cv2
import numpy as np
import pytest

import engine.image
import engine.preprocess
from engine.image import WORK_SIDE, DrawingError, working_image
from engine.preprocess import preprocess
from tests.conftest import click, four, seven
from webapp.canvas import MAX_LAYERS, to_array
from webapp.predictor import Predictor

MiB = 2**20


class OpenCVSpy:
    """The real cv2, recording the largest side of every array each function is given."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name):
        attr = getattr(cv2, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def spied(*args, **kwargs):
            sides = [max(a.shape[:2]) for a in args if isinstance(a, np.ndarray)
                     and a.ndim >= 2 and a.shape[1:] != (1, 2)]  # (N, 1, 2): a contour
            self.calls.append((name, max(sides, default=0)))
            return attr(*args, **kwargs)

        return spied


@pytest.fixture
def opencv(monkeypatch):
    spy = OpenCVSpy()
    monkeypatch.setattr(engine.image, "cv2", spy)
    monkeypatch.setattr(engine.preprocess, "cv2", spy)
    return spy


def diagonal(size=4096):
    img = np.full((size, size), 255, np.uint8)
    cv2.line(img, (0, 0), (size - 1, size - 1), 0, 1)
    return img


HUGE = {
    "1-px diagonal line": diagonal,
    "RGBA noise, fractional scale": lambda: np.random.default_rng(0).integers(
        0, 256, (4000, 3000, 4), dtype=np.uint8),
    "int64 image": lambda: diagonal(2048).astype(np.int64),
    "float64 RGB": lambda: np.dstack([diagonal(2048) / 255.0] * 3),
}


@pytest.mark.parametrize("make", HUGE.values(), ids=HUGE.keys())
def test_only_the_first_resize_sees_the_upload(opencv, make):
    """Morphology, distance transforms, contours and components all run at the working
    resolution, whatever the upload's size: their cost cannot grow with it."""
    preprocess(make())
    assert opencv.calls[0][0] == "resize"
    full_size = [c for c in opencv.calls if c[1] > WORK_SIDE + 64]  # + the thickening's pad
    assert {name for name, _ in full_size} == {"resize"}, full_size
    assert len(opencv.calls) < 40  # no per-pixel or per-speck loop through OpenCV


@pytest.mark.parametrize("shape,work", [((4096, 4096), (512, 512)), ((4000, 3000, 4), (512, 384)),
                                        ((8, 4096), (8, 512)), ((280, 280, 3), (280, 280)),
                                        ((1023, 700), (512, 350))])
def test_the_working_resolution(shape, work):
    img = working_image(np.zeros(shape, np.uint8))
    assert img.shape[:2] == work and img.dtype == np.float32


def traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_upload_is_never_copied_at_full_size():
    rgba = np.random.default_rng(0).integers(0, 256, (4096, 4096, 4), dtype=np.uint8)
    # The upload is 64 MiB; a float32 RGBA copy of it would be 256 MiB.
    assert traced_peak(lambda: preprocess(rgba)) < 24 * MiB
    wide = diagonal(2048).astype(np.int64)  # 32 MiB: converted one float32 plane at a time
    assert traced_peak(lambda: preprocess(wide)) < 16 * MiB + 8 * MiB


def test_layers_are_flattened_at_working_resolution():
    layer = np.zeros((4096, 4096, 4), np.uint8)
    layer[..., 3] = 255 - diagonal()
    drawing = {"composite": None, "background": np.full((4096, 4096, 4), 255, np.uint8),
               "layers": [layer]}
    flat = []
    peak = traced_peak(lambda: flat.append(to_array(drawing)))
    assert flat[0].shape == (512, 512, 4) and peak < 24 * MiB
    assert preprocess(flat[0]).ok


@pytest.mark.parametrize("drawing,message", [
    ({"composite": None, "background": np.full((8000, 8000), 255, np.uint8)}, "8000x8000"),
    ({"composite": None, "layers": [np.zeros((4096, 5000, 4), np.uint8)]}, "4096"),
    ({"composite": None, "background": np.zeros((4096, 4096), np.uint8),
      "layers": [np.zeros((4096, 4096, 4), np.uint8)] * 2}, "pixels in all"),
])
def test_sizes_are_checked_before_anything_is_converted(drawing, message):
    predictor = Predictor()
    predictor.not_a_digit(np.zeros((1, 28, 28), np.float32))  # its detector has loaded
    peak = traced_peak(lambda: predictor.predict(drawing, ["mlp-h32-int8"]))
    result = predictor.predict(drawing, ["mlp-h32-int8"])
    assert result.status == "error" and message in result.message
    assert peak < 1 * MiB  # the 61 MiB background was only looked at


def nested(depth, key=None):
    value = [] if key is None else {}
    inner = value
    for _ in range(depth):
        child = [] if key is None else {}
        if key is None:
            inner.append(child)
        else:
            inner[key] = child
        inner = child
    return value


MALFORMED = {
    "layers is a number": {"composite": None, "layers": 5},
    "background is a number": {"composite": None, "background": 5},
    "layers is a dict": {"composite": None, "layers": {"a": seven()}},
    "composite nested 5,000 deep": nested(5000, "composite"),
    "background nested 5,000 deep": {"composite": None, "background": nested(5000, "x")},
    "a list nested 5,000 deep": nested(5000),
    "layers nested 5,000 deep": {"composite": None, "layers": [nested(5000)]},
    "too many layers": {"composite": None, "layers": [seven()] * (MAX_LAYERS + 1)},
    "layers of two sizes": {"composite": None, "background": seven(),
                            "layers": [np.zeros((200, 280, 4), np.uint8)]},
    "strings": [["a"] * 20] * 20,
    "None in the rows": [[0] * 20] * 19 + [[None] * 20],
    "huge ints": [[2**70] * 20] * 20,
    "a 0-d array": np.array(5),
    "an object": object(),
    "bytes": b"\x89PNG",
    "complex": np.zeros((30, 30), complex),
    "a Python int": 5,
}


@pytest.mark.parametrize("drawing", MALFORMED.values(), ids=MALFORMED.keys())
def test_every_malformed_payload_is_an_error_status_not_an_exception(drawing):
    result = Predictor().predict(drawing, ["mlp-h32-int8"])
    assert result.status == "error" and result.message.startswith("Cannot read that image")
    assert result.image.shape == (28, 28) and not result.probabilities
    with pytest.raises(DrawingError):  # and at the engine's edge, a DrawingError
        preprocess(to_array(drawing))


@pytest.mark.parametrize("names", [[["x"]], [{}], None, 5, [None], {"a": 1}])
def test_malformed_variant_lists_are_an_error_status(names):
    result = Predictor().predict(seven(), names)
    assert result.status == "error" and "variant names" in result.message


def test_what_the_issue_saw_is_answered_honestly():
    """The reproducers: a click, a framed 4, a 100 px digit on a 4096 px canvas, noise."""
    predictor, name = Predictor(), "mlp-h512x256-float32"
    assert predictor.predict(click(), [name]).status == "stray"
    framed = cv2.rectangle(four(), (8, 8), (271, 271), 0, 8)
    assert predictor.predict(framed, [name]).to_json()["top"][name] == 4  # was 0 at 0.97
    noise = np.random.default_rng(1).integers(0, 256, (4096, 4096), dtype=np.uint8)
    assert predictor.predict(noise, [name]).status == "full"
    big = np.full((4096, 4096), 255, np.uint8)
    big[1000:1100, 3000:3100] = cv2.resize(seven(pen=10), (100, 100),
                                           interpolation=cv2.INTER_AREA)
    assert predictor.predict(big, [name]).to_json()["top"][name] == 7
