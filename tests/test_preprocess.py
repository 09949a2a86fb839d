"""The drawing -> 28x28 pipeline on synthetic drawings in every form the app may receive."""

from itertools import pairwise

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.preprocess import (
    MNIST_CENTRE,
    DrawingError,
    ink_map,
    naive,
    preprocess,
    stroke_width,
)
from tests.conftest import click, four, seven
from webapp.canvas import to_array


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
    (unwrapped at the serving edge, webapp.canvas: the engine takes arrays)."""
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
        "pil": Image.fromarray(img),
        "list": img.tolist(),
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
    img[4:-4, 4:-4, 3] = 255  # a transparent canvas painted all over but a thin margin
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
    ([[1] * 10] * 9 + [[3]], "cannot read"),  # ragged rows
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


# Reading ink by what is on the canvas: value ranges, pens, alpha, sizes, frames.

def same_reading(drawing, reference=None, tol=0.06):
    reference = seven() if reference is None else reference
    out, ref = preprocess(to_array(drawing)), preprocess(reference)
    assert out.ok, out.message
    return np.abs(out.image - ref.image).max() < tol


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint32,
                                   np.uint64, np.float16])
@pytest.mark.parametrize("size", [280, 1000])  # as it is, and area-averaged to 512 px
def test_integer_images_are_read_by_their_values_not_their_dtype(dtype, size):
    img = seven(size, pen=round(size / 90), box=tuple(round(v * size / 280)
                                                     for v in (60, 40, 200, 240)))
    values = img // 2 if dtype == np.int8 else img  # int8 holds up to 127
    assert same_reading(values.astype(dtype), img)
    assert same_reading(np.asfortranarray(values.astype(dtype)), img)


def test_a_list_of_lists_of_ints_is_an_8_bit_image():
    as_json = seven().tolist()  # what a JSON client sends: int64 once NumPy reads it
    assert np.asarray(as_json).dtype == np.int64
    assert same_reading(as_json)
    assert same_reading((seven() > 127).astype(np.int64))  # a 0/1 mask, 1 = paper


@pytest.mark.parametrize("ink,paper", [(200, 255), (250, 255), (5, 0), (120, 90)])
def test_low_contrast_pens_read_like_black_on_white(ink, paper):
    img = np.where(seven() < 128, ink, paper).astype(np.uint8)
    assert same_reading(img)


@pytest.mark.parametrize("pen,paper", [((255, 0, 0), 255), ((255, 255, 0), 255),
                                       ((0, 0, 255), 0), ((0, 160, 0), 255)])
def test_coloured_pens_read_by_contrast_against_the_paper(pen, paper):
    img = np.full((280, 280, 3), paper, np.uint8)
    img[seven() < 128] = pen  # yellow on white differs from the paper in blue only
    assert same_reading(img)


def test_one_see_through_pixel_does_not_make_an_opaque_picture_transparent():
    img = seven()
    rgba = np.dstack([img, img, img, np.full_like(img, 255)])
    for alpha in (250, 128, 0):
        rgba[10, 10, 3] = alpha
        assert same_reading(rgba), alpha
    blank = np.full((280, 280, 4), 255, np.uint8)
    blank[10, 10, 3] = 0
    assert preprocess(blank).status == "blank"


def test_paper_texture_below_the_contrast_floor_is_blank_at_any_size():
    for size in (280, 4096):
        img = np.full((size, size), 250, np.uint8)
        img[::7] = 252  # 2 levels of grain
        assert preprocess(img).status == "blank", size


def test_a_small_digit_on_a_huge_canvas_is_a_digit():
    big = np.full((4096, 4096), 255, np.uint8)
    big[2000:2100, 1500:1600] = cv2.resize(seven(pen=10), (100, 100),
                                           interpolation=cv2.INTER_AREA)
    check_mnist_like(preprocess(big))


@pytest.mark.parametrize("size", [280, 560, 1000, 4096])
@pytest.mark.parametrize("centre", [(140, 140), (20, 30), (265, 250)])
def test_one_click_with_the_apps_brush_is_stray_at_any_canvas_size(size, centre):
    assert preprocess(click(size, centre)).status == "stray"


def test_a_short_drag_is_stray_but_a_short_thick_one_is_a_stroke():
    img = np.full((280, 280), 255, np.uint8)
    cv2.line(img, (135, 140), (145, 140), 0, 24)  # the brush moved 10 px during a click
    assert preprocess(img).status == "stray"
    img = np.full((280, 280), 255, np.uint8)
    cv2.line(img, (140, 110), (140, 170), 0, 24)  # a stubby 1 with the same brush
    assert preprocess(img).ok


def test_real_mnist_digits_are_never_stray_full_or_blank(mnist):
    """Every test digit, sent as the 28x28 white-on-black image it is (bold ones too)."""
    statuses = {preprocess(img).status for img in mnist.test_images}
    assert statuses == {"ok"}


@pytest.mark.parametrize("frame", [
    lambda img: cv2.rectangle(img, (10, 10), (269, 269), 0, 6),
    lambda img: cv2.rectangle(img, (0, 0), (279, 279), 0, 24),  # along the pad's edge
    lambda img: cv2.circle(img, (140, 145), 125, 0, 5),
    lambda img: cv2.rectangle(cv2.rectangle(img, (2, 2), (277, 277), 0, 3),
                              (30, 30), (250, 255), 0, 4),  # a frame in a frame
])
def test_a_frame_round_the_drawing_is_not_part_of_the_digit(frame):
    assert same_reading(frame(four()), four(), tol=0.1)


def test_marks_inside_a_digits_loop_stay_with_the_digit():
    zero = np.full((280, 280), 255, np.uint8)
    cv2.ellipse(zero, (140, 140), (70, 110), 0, 0, 360, 0, 10)
    dotted = zero.copy()
    cv2.circle(dotted, (140, 140), 8, 0, -1)  # a dotted zero: the dot is no digit
    out = preprocess(dotted)
    assert out.ok and out.image[14, 14] > 0.5  # the dot is still there, in the 0
    assert np.ptp(np.nonzero(out.image > 0.3)[0]) >= 18  # and the 0 was not dropped as a frame


@pytest.mark.parametrize("size", [64, 280, 4096])
def test_noise_is_full_not_a_digit(size):
    rng = np.random.default_rng(0)
    assert preprocess(rng.integers(0, 256, (size, size), dtype=np.uint8)).status == "full"
    assert preprocess(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).status == "full"


def test_stages_show_each_step_and_end_in_the_answer():
    from tests.test_app import SEVEN

    plain = preprocess(SEVEN)
    staged = preprocess(SEVEN, stages=True)
    assert plain.stages is None and np.array_equal(staged.image, plain.image)
    assert list(staged.stages) == ["as drawn", "cropped", "thickened (pen 11 → 21 px)",
                                   "scaled to 20 px", "centred"]
    assert np.array_equal(staged.stages["centred"], staged.image)
    assert staged.stages["as drawn"].shape == SEVEN.shape[:2]  # 280 px: its own working size
    cropped, thick = list(staged.stages.values())[1:3]
    assert cropped.shape[0] < 280 and thick.sum() > cropped.sum()  # the pen grew
    scaled = staged.stages["scaled to 20 px"]
    assert max(np.ptp(np.nonzero(scaled.sum(0))[0]), np.ptp(np.nonzero(scaled.sum(1))[0])) == 19


def test_a_pen_already_mnist_thick_is_not_thickened_and_the_stages_say_so():
    from tests.test_app import SEVEN

    thick = seven(pen=24, box=(84, 70, 196, 224))  # the app's brush: a 24 px pen
    staged = preprocess(thick, stages=True)
    assert list(staged.stages) == ["as drawn", "cropped (pen 23 px, MNIST's 21: not thickened)",
                                   "scaled to 20 px", "centred"]
    assert np.array_equal(staged.image, preprocess(thick).image)
    for before, after in ((thick, True), (SEVEN, True), (thick, False)):
        images = list(preprocess(before, thicken=after, stages=True).stages.values())
        assert all(a.shape != b.shape or not np.array_equal(a, b)
                   for a, b in pairwise(images)), "a step shown twice"


def test_thickening_grows_by_exact_distances_the_same_every_time():
    """The grown pen is a disc of the exact Euclidean distance (the root of a whole number,
    correctly rounded) on every call: OpenCV's own transform rounds some of those an ulp
    either way from call to call, and one drawing would get answers that differ."""
    from engine.preprocess import INK_THRESHOLD, _thickened

    crop = ink_map(seven(pen=2))[30:250, 50:215]  # a thin pen: grown by 11 px
    radius = 10.7
    pad = int(np.ceil(radius)) + 1
    padded = np.pad(crop, pad)
    ys, xs = np.nonzero(padded > INK_THRESHOLD)
    gy, gx = np.mgrid[:padded.shape[0], :padded.shape[1]]
    squares = np.concatenate([  # to the nearest ink pixel, a few rows at a time
        ((gy[r:r + 8, :, None] - ys) ** 2 + (gx[r:r + 8, :, None] - xs) ** 2).min(axis=-1)
        for r in range(0, len(gy), 8)])
    exact = np.sqrt(squares.astype(np.float64)).astype(np.float32)
    grown = np.maximum(padded, (radius + 0.5 - exact).clip(0, 1))
    x, y, w, h = cv2.boundingRect((grown > INK_THRESHOLD).astype(np.uint8))
    for _ in range(30):
        assert np.array_equal(_thickened(crop, radius)[0], grown[y:y + h, x:x + w])


def test_a_drawing_is_preprocessed_to_the_same_bits_every_time():
    from engine.data.strokes import digit_drawings

    drawings = [d for d, _, _ in digit_drawings(150, seed=3)]
    first = [preprocess(d).image for d in drawings]
    for _ in range(2):
        again = [preprocess(d).image for d in drawings]
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
