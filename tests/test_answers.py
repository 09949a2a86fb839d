"""What the page shows for a prediction: the headline, the table, and nothing unescaped."""

import base64
import re

import cv2
import numpy as np

from webapp import answers
from webapp.predictor import Prediction

ENTRIES = {"a": {"bytes": 2048, "test_accuracy": 0.9912, "drawn_accuracy": 0.9345},
           "b": {"bytes": 1024, "test_accuracy": 0.98, "experimental": True}}


def probs(digit: int, p: float) -> list[float]:
    out = [(1 - p) / 9] * 10
    out[digit] = p
    return out


def prediction(**answers_by_name) -> Prediction:
    image = np.zeros((28, 28))
    image[4:24, 13:15] = 1.0
    p = Prediction("ok", "", image)
    for name, (digit, conf) in answers_by_name.items():
        p.probabilities[name] = probs(digit, conf)
        p.ms[name] = 0.25
    return p


def cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html)[1:]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
            for r in rows]


def test_the_first_selected_variant_leads_and_every_selected_one_has_a_row():
    p = prediction(a=(7, 0.99996), b=(7, 0.9))
    head = answers.headline(p, ["b", "a"])
    assert '<span class="digit">7</span>' in head and "<code>b</code>" in head
    assert "90.0% sure" in head and "otherwise" not in head
    rows = cells(answers.table(p, ["b", "a"], ENTRIES))
    assert [r[0] for r in rows] == ["b experimental", "a"]
    assert rows[1][:3] == ["a", "7", "99.9%"]  # rounded down: never a certainty
    assert rows[1][4:] == ["2.0 KiB", "99.12%", "93.5%"]
    assert rows[0][4:] == ["1.0 KiB", "98.00%", ""]  # no drawn-digit figure: a blank cell


def test_disagreement_is_flagged_on_the_odd_rows():
    p = prediction(a=(7, 0.9), b=(1, 0.8))
    p.probabilities["c"], p.ms["c"] = probs(7, 0.7), 0.1
    head = answers.headline(p, ["b", "a", "c"])
    assert '<span class="digit">1</span>' in head and "2 of 3 variants say otherwise" in head
    html = answers.table(p, ["b", "a", "c"], ENTRIES)
    assert "The variants disagree" in html
    assert [r[1] for r in cells(html)] == ["1 ⚠️", "7", "7"]


def test_a_hint_instead_of_answers_and_errors_in_their_row():
    blank = Prediction("blank", "Draw a digit.", np.zeros((28, 28)))
    assert answers.headline(blank, ["a"]) == '<div class="headline hint">Draw a digit.</div>'
    html = answers.table(blank, ["a"], ENTRIES)
    assert cells(html) == [["a", "·", "", "", "2.0 KiB", "99.12%", "93.5%"]] and "<img" not in html
    p = prediction(a=(3, 0.9))
    p.errors["b"] = "variant 'b': model.safetensors was modified or truncated"
    rows = cells(answers.table(p, ["a", "b"], ENTRIES))
    assert "could not load: variant 'b'" in rows[1][1].replace("&#x27;", "'")
    nobody = Prediction("ok", "", np.zeros((28, 28)), errors={"b": "gone"})
    assert "No selected variant could answer" in answers.headline(nobody, ["b"])


def test_names_and_reasons_from_a_hub_manifest_are_escaped():
    evil = '<img src=x onerror="alert(1)">'
    p = prediction(**{evil: (2, 0.9)})
    p.errors["<script>"] = "<b>boom</b>"
    error = Prediction("error", "Cannot read that image: <svg onload=alert(1)>",
                       np.zeros((28, 28)))
    for html in (answers.headline(p, [evil]), answers.table(p, [evil, "<script>"], {}),
                 answers.headline(error, [])):
        assert "<script>" not in html and "<svg" not in html and "<b>" not in html
        assert not re.search(r"<img src=x", html)  # shown as text, never as a tag
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in answers.headline(p, [evil])


def test_the_preview_is_the_28x28_input_inline():
    p = prediction(a=(1, 0.9))
    html = answers.table(p, ["a"], ENTRIES)
    data = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    img = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.shape == (28, 28) and np.array_equal(img, (p.image * 255).astype(np.uint8))


def test_a_saturated_softmax_is_never_shown_as_a_certainty():
    p = prediction(a=(3, 1.0))
    assert "99.9% sure" in answers.headline(p, ["a"])
    assert cells(answers.table(p, ["a"], ENTRIES))[0][2] == "99.9%"


def test_a_drawing_refused_as_not_a_digit_shows_no_digit_anywhere():
    p = prediction(a=(4, 0.997), b=(7, 0.999))
    p.status, p.message, p.not_a_digit = "not_a_digit", "That does not look like one digit.", 0.93
    head, table = answers.headline(p, ["a", "b"]), answers.table(p, ["a", "b"], ENTRIES)
    assert "digit" not in re.findall(r'class="(\w+)"', head)  # no big digit under the pad
    assert "93.0% not one digit" in head
    rows = cells(table)
    assert [r[1:3] for r in rows] == [["–", "not a digit"]] * 2  # greyed, with the reason
    assert table.count('class="refused"') == 2 and "<img" not in table  # no preview either
    assert not re.search(r"\b[47]\b", re.sub(r"<[^>]+>", " ", table).replace("2.0", ""))
    assert "2 different readings" in table  # the variants' disagreement, said as such
    answer = p.to_json()  # the API keeps the readings, under a name that is not an answer
    assert answer["probabilities"] == answer["top"] == answer["calibrated"] == {}
    assert answer["if_a_digit"]["top"] == {"a": 4, "b": 7}
    assert set(prediction(a=(4, 0.9)).to_json()) >= {"probabilities", "top"}
    assert "if_a_digit" not in prediction(a=(4, 0.9)).to_json()
