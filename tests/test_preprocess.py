"""The drawing -> 28x28 pipeline on synthetic drawings in every form the app may receive."""

import cv2
import numpy as np
import pytest

from engine.preprocess import (
    MNIST_CENTRE,
    DrawingError,
    ink_map,
    naive,
    preprocess,
    stroke_width,
)
from tests.conftest import seven
from zoo.canvas import to_array


def com(img):
    ys, xs = np.mgrid[:28, :28]
    return (img * ys).sum() / img.sum(), (img * xs).sum() / img.sum()


def check_mnist_like(p):
    assert p.ok and p.image.shape == (28, 28) and p.image.dtype == np.float32
    assert 0 <= p.image.min() and p.image.max() == pytest.approx(1.0)
    ys, xs = np.nonzero(p.image > 0.3)
    assert max(np.ptp(ys), np.ptp(xs)) in range(18, 23)  # longer side ~20 px
    cy, cx = com(p.image)
    assert abs(cy - MNIST_CENTRE) < 0.3 and abs(cx - MNIST_CENTRE) < 0.3


def test_thin_stroke_comes_out_mnist_thick():
    p = preprocess(seven(pen=1))
    check_mnist_like(p)
    width = stroke_width(p.image > 0.3)
    assert 1.6 < width < 4.0, width  # MNIST's pen is ~2.3 px at this size
    thin = naive(seven(pen=1))
    assert stroke_width(thin > 0.1) < 1.5  # what the naive resize would feed the model


@pytest.mark.parametrize("box", [(5, 5, 40, 60), (200, 190, 270, 275), (100, 120, 118, 150)])
def test_off_centre_and_tiny_digits_are_centred_and_scaled(box):
    check_mnist_like(preprocess(seven(box=box, pen=2)))


def test_huge_canvas_and_thick_brush():
    check_mnist_like(preprocess(seven(size=2000, pen=60, box=(100, 100, 1800, 1900))))


def test_forms_agree():
    """L, RGB, RGBA opaque, RGBA transparent, white-on-black, float, bool, Sketchpad dict
    (unwrapped at the serving edge, zoo.canvas: the engine takes arrays)."""
    img = seven()
    ref = preprocess(img).image
    ink = 255 - img
    transparent = np.zeros((280, 280, 4), np.uint8)
    transparent[..., 3] = ink  # black ink, alpha carries it: what an API client sends
    forms = {
        "rgb": np.stack([img] * 3, -1),
        "rgba": np.dstack([img, img, img, np.full_like(img, 255)]),
        "transparent": transparent,
        "inverted": ink,
        "float": img / 255.0,
        "column": img[..., None],
        "uint16": img.astype(np.uint16) * 257,
        "dict": {"background": None, "layers": [], "composite": np.stack([img] * 3, -1)},
        "layers": {"background": np.full((280, 280, 4), 255, np.uint8), "composite": None,
                   "layers": [transparent]},
    }
    for name, form in forms.items():
        out = preprocess(to_array(form)).image
        assert np.abs(out - ref).max() < 0.06, name
    assert preprocess(img > 127).ok  # bool mask, True = white paper


def test_grey_paper_and_noise_are_not_ink():
    img = seven().astype(np.int16)
    img = (img * 0.6 + 60 + np.random.default_rng(0).normal(0, 4, img.shape)).clip(0, 255)
    check_mnist_like(preprocess(img.astype(np.uint8)))


@pytest.mark.parametrize("drawing,status", [
    (np.full((280, 280), 255, np.uint8), "blank"),
    (np.zeros((280, 280, 4), np.uint8), "blank"),
    (None, "blank"),
    ({"background": None, "layers": [], "composite": None}, "blank"),
    (np.full((280, 280), 0, np.uint8), "blank"),  # uniform black is paper, not ink
])
def test_blank_canvases(drawing, status):
    p = preprocess(to_array(drawing))
    assert p.status == status and not p.ok and p.message and not p.image.any()


def test_stray_dot_and_all_ink():
    img = np.full((280, 280), 255, np.uint8)
    cv2.circle(img, (100, 100), 2, 0, -1)
    assert preprocess(img).status == "stray"
    img = np.zeros((280, 280, 4), np.uint8)
    img[..., 3] = 255
    img[0, :, 3] = 0  # nearly all of the canvas painted
    assert preprocess(img).status == "full"


@pytest.mark.parametrize("bad,message", [
    ("a string", "expected an image array"),
    (np.zeros((280, 280, 2), np.uint8), r"got shape \(280, 280, 2\)"),
    (np.zeros((5, 280), np.uint8), "outside 8..4096"),
    (np.zeros((5000, 20), np.uint8), "outside 8..4096"),
    (np.zeros((2, 3, 4, 5), np.uint8), "shape"),
    (np.full((30, 30), np.nan), "NaN"),
    (np.zeros((30, 30), complex), "dtype"),
    ({"composite": object()}, "cannot read"),
    ([[1, 2], [3]], "cannot read"),
])
def test_bad_input_is_a_clear_error(bad, message):
    with pytest.raises(DrawingError, match=message):
        preprocess(to_array(bad))


def test_the_engine_takes_arrays_not_sketchpad_values():
    with pytest.raises(DrawingError, match="expected an image array, got dict"):
        preprocess({"background": None, "layers": [], "composite": seven()})


def test_ink_map_polarity():
    img = seven()
    assert ink_map(img)[40, 100] > 0.9 and ink_map(img)[5, 5] == 0
    assert np.allclose(ink_map(img), ink_map(255 - img), atol=0.01)
