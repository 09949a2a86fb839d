import base64
import html
from itertools import pairwise

import cv2
import numpy as np

from engine.preprocess import preprocess
from tests.conftest import seven
from tests.test_app import SEVEN
from webapp.why import saliency_image, saliency_maps, stage_strip


def decoded(src: str) -> np.ndarray:
    data = base64.b64decode(src.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def pictures(strip: str) -> list[str]:
    return [part.split('"')[0] for part in strip.split('src="')[1:]]


def test_strip_shows_every_step_at_one_height():
    stages = preprocess(SEVEN, stages=True).stages
    strip = stage_strip(stages)
    srcs = pictures(strip)
    assert len(srcs) == len(stages) == 5
    assert {decoded(s).shape[0] for s in srcs} == {72}
    for name in stages:
        assert f"<figcaption>{html.escape(name)}" in strip


def orange(image: np.ndarray) -> int:
    return int(np.sum(image[..., 2].astype(int) - image[..., 0] > 100))


def test_no_step_is_shown_twice_and_the_thickening_shows_what_it_added():
    pad_seven = seven(pen=24, box=(84, 70, 196, 224))  # the app's brush: MNIST-thick already
    for drawing in (pad_seven, SEVEN):
        strip = stage_strip(preprocess(drawing, stages=True).stages)
        images = [decoded(s) for s in pictures(strip)]
        assert all(a.shape != b.shape or not np.array_equal(a, b)
                   for a, b in pairwise(images)), "two neighbours look the same"
    thick = stage_strip(preprocess(pad_seven, stages=True).stages)
    assert "not thickened" in thick and "orange" not in thick
    assert not any(orange(decoded(s)) for s in pictures(thick))
    thin = stage_strip(preprocess(SEVEN, stages=True).stages)  # a 10 px pen, grown to 21
    assert [orange(decoded(s)) > 100 for s in pictures(thin)] == [False, False, True, False,
                                                                  False]
    assert "thickened (pen 11 → 21 px), added ink in orange</figcaption>" in thin


def test_saliency_colours_say_which_way_the_ink_pushed():
    image = np.zeros((28, 28), np.float32)
    image[5:10, 5:10] = image[15:20, 15:20] = 1
    s = np.zeros((28, 28), np.float32)
    s[5:10, 5:10], s[15:20, 15:20] = 2.0, -1.0
    bgr = saliency_image(image, s)
    up, down = bgr[7 * 4, 7 * 4], bgr[17 * 4, 17 * 4]
    assert up[2] > 200 and up[0] < 150  # red where the answer was pushed up
    assert down[0] > down[2]  # blue where it was pushed down
    html = saliency_maps(image, {"v": s}, {"v": 7})
    assert "v: 7" in html and decoded(html.split('src="')[1].split('"')[0]).shape == (112, 112, 3)
