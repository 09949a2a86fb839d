import base64

import cv2
import numpy as np

from engine.preprocess import preprocess
from tests.test_app import SEVEN
from webapp.why import saliency_image, saliency_maps, stage_strip


def decoded(src: str) -> np.ndarray:
    data = base64.b64decode(src.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_strip_shows_every_step_at_one_height():
    stages = preprocess(SEVEN, stages=True).stages
    html = stage_strip(stages)
    srcs = [part.split('"')[0] for part in html.split('src="')[1:]]
    assert len(srcs) == len(stages) == 5
    assert {decoded(s).shape[0] for s in srcs} == {72}
    for name in stages:
        assert f"<figcaption>{name}</figcaption>" in html


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
