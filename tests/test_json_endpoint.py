"""POST /api/predict: the app's answers as plain JSON, tested like /predict, over real HTTP."""

import base64
import http.client
import json
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from tests.conftest import free_port, seven
from tests.test_pad import png_header_only
from webapp import json_endpoint as api

SEVEN = seven(pen=10, box=(70, 60, 200, 230))  # a thick-pen 7, as a mouse draws it
VARIANTS = ["mlp-h128-int8", "cnn-c32c64-float32"]


@pytest.fixture(scope="module")
def url():
    import app

    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
               quiet=True)
    yield app.demo.local_url.rstrip("/") + api.ROUTE
    app.demo.close()


def post(url: str, body: bytes, content_type: str, query: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(url + query, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def test_a_png_body_gets_the_same_answer_as_the_app(url):
    import app

    status, answer = post(url, png(SEVEN), "image/png", "?variants=" + ",".join(VARIANTS))
    assert status == 200 and answer["status"] == "ok", answer
    assert answer["top"] == {n: 7 for n in VARIANTS}
    local = app.predict(SEVEN, VARIANTS)
    assert set(answer) == set(local)
    for name in VARIANTS:
        assert np.allclose(answer["probabilities"][name], local["probabilities"][name])
        assert np.allclose(answer["calibrated"][name], local["calibrated"][name])
    assert answer["not_a_digit"] == pytest.approx(local["not_a_digit"])


def test_json_with_pixels_or_base64_and_the_options(url):
    small = cv2.resize(SEVEN, (56, 56), interpolation=cv2.INTER_AREA)
    body = {"pixels": small.tolist(), "variants": VARIANTS[:1], "with_input": True}
    status, answer = post(url, json.dumps(body).encode(), "application/json")
    assert status == 200 and answer["top"] == {VARIANTS[0]: 7}
    assert np.asarray(answer["input"]).shape == (28, 28)
    body = {"image": base64.b64encode(png(SEVEN)).decode(), "explain": True}
    status, answer = post(url, json.dumps(body).encode(), "application/json")
    assert status == 200 and answer["status"] == "ok"
    assert answer["probabilities"]  # no variants named: the app's default selection
    assert set(answer["saliency"]) == set(answer["probabilities"])


def test_what_the_drawing_is_comes_back_as_its_status(url):
    blank = np.full((280, 280), 255, np.uint8)
    assert post(url, png(blank), "image/png")[1]["status"] == "blank"
    letter = np.full((280, 280), 255, np.uint8)
    cv2.putText(letter, "X", (60, 220), cv2.FONT_HERSHEY_SIMPLEX, 7, 0, 22)
    status, answer = post(url, png(letter), "image/png", "?variants=mlp-h128-int8")
    assert status == 200 and answer["status"] == "not_a_digit"
    status, answer = post(url, png(SEVEN), "image/png", "?variants=no-such-variant")
    assert status == 200 and answer["status"] == "ok"
    assert "no-such-variant" in answer["errors"]


@pytest.mark.parametrize("body,content_type,code,says", [
    (b"not json", "application/json", 400, "not JSON"),
    (b"[1, 2]", "application/json", 400, "must be an object"),
    (b'{"pixels": [[0]], "image": ""}', "application/json", 400, "exactly one"),
    (b'{"variants": ["a"]}', "application/json", 400, "exactly one"),
    (b'{"pixels": [[0]], "nonsense": 1}', "application/json", 400, "unknown fields"),
    (b'{"image": "%%%"}', "application/json", 400, "not base64"),
    ('{"image": "iVBOR\u00e9"}'.encode(), "application/json", 400, "not base64"),
    (b'{"pixels": "abc"}', "application/json", 400, "list of rows"),
    (b"GIF89a-but-not-really", "image/png", 400, "not an image file"),
    (b"x=1", "application/x-www-form-urlencoded", 415, "not application/x-www-form"),
])
def test_a_malformed_request_is_told_what_is_wrong(url, body, content_type, code, says):
    status, answer = post(url, body, content_type)
    assert status == code and answer["status"] == "error", answer
    assert says in answer["message"]


def test_what_the_image_checks_refuse_is_refused_here_too(url):
    for side in (5000, 100_000):  # headers declaring more pixels: refused before decoding
        status, answer = post(url, png_header_only(side, side), "image/png")
        assert status == 413 and "4096" in answer["message"], answer
    tiny = {"pixels": [[0, 1], [1, 0]]}  # under the smallest side the app reads
    status, answer = post(url, json.dumps(tiny).encode(), "application/json")
    assert status == 200 and answer["status"] == "error" and "outside" in answer["message"]
    deep = {"pixels": [[[[0]]]]}
    status, answer = post(url, json.dumps(deep).encode(), "application/json")
    assert answer["status"] == "error" and "nested" in answer["message"]


def test_only_the_image_formats_a_drawing_comes_in_are_decoded(url):
    bmp = cv2.imencode(".bmp", SEVEN)[1]
    assert post(url, bmp.tobytes(), "image/bmp", "?variants=mlp-h128-int8")[1]["top"] == {
        "mlp-h128-int8": 7}
    tiff = cv2.imencode(".tiff", SEVEN)[1].tobytes()  # Pillow reads it; a drawing is no TIFF
    status, answer = post(url, tiff, "image/tiff")
    assert status == 400 and "not an image file" in answer["message"]


def test_a_crowd_waits_for_turns_on_the_event_loop_not_in_worker_threads():
    import asyncio

    from webapp.turns import BusyError, Turns

    async def crowd() -> list:
        turns = Turns(n=2, wait=0.3)
        release = asyncio.Event()

        async def hold():
            async with turns.turn():
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await asyncio.sleep(0.05)
        waiting = await asyncio.gather(*(turns.run(lambda: "ran") for _ in range(20)),
                                       return_exceptions=True)
        release.set()
        await asyncio.gather(*holders)
        return [*waiting, await turns.run(lambda: "ran")]  # the turns come back

    *waiting, after = asyncio.run(crowd())
    assert all(isinstance(w, BusyError) for w in waiting) and after == "ran"


def test_a_body_over_the_limit_is_refused_unread(url):
    # Only the headers are sent: the answer must come without waiting for 8 MB of body.
    host, port = url.split("//")[1].split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("POST", api.ROUTE)
        connection.putheader("Content-Type", "image/png")
        connection.putheader("Content-Length", str(api.MAX_BODY + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413 and "at most" in json.loads(response.read())["message"]
    finally:
        connection.close()


def test_a_large_image_is_answered_at_its_pace(url, monkeypatch):
    """Past LARGE_PIXELS an image is decoded by webapp.turns.LARGE (one at a time, paced),
    with the answer it would have had anyway; ordinary drawings never wait for it."""
    import app
    from webapp import turns

    calls = []
    real = turns.LARGE.run
    monkeypatch.setattr(turns.LARGE, "run", lambda fn, *a: calls.append(1) or real(fn, *a))
    big = cv2.resize(SEVEN, (1400, 1400), interpolation=cv2.INTER_NEAREST)  # 1.96 Mpx
    status, answer = post(url, png(big), "image/png", "?variants=" + ",".join(VARIANTS))
    assert status == 200 and answer["top"] == {n: 7 for n in VARIANTS}
    assert answer["probabilities"] == app.predict(big, VARIANTS)["probabilities"]
    assert calls == [1]
    body = json.dumps({"image": base64.b64encode(png(big)).decode(), "variants": VARIANTS})
    assert post(url, body.encode(), "application/json")[1]["status"] == "ok"
    assert calls == [1, 1]  # the JSON form is paced too
    assert post(url, png(SEVEN), "image/png")[0] == 200
    assert calls == [1, 1]


def test_the_pace_of_large_work():
    """One at a time; after work that took t, the next waits t * (1/share - 1); past the
    callers allowed to wait, the server says it is busy at once."""
    import threading
    import time

    from webapp.turns import BusyError, Pace

    pace = Pace(share=0.25, waiting=1, wait=5)
    ends, starts = [], []

    def work():
        starts.append(time.monotonic())
        time.sleep(0.05)
        ends.append(time.monotonic())

    pace.run(work)
    pace.run(work)
    assert starts[1] - ends[0] >= 0.05 * 3 * 0.95  # three times its cost, idle

    hold, held = threading.Event(), threading.Event()
    first = threading.Thread(target=pace.run, args=(lambda: held.set() or hold.wait(5),))
    first.start()
    held.wait(5)
    waiter = threading.Thread(target=pace.run, args=(lambda: None,))
    waiter.start()
    deadline = time.monotonic() + 5
    while pace._waiting < 1 and time.monotonic() < deadline:  # the waiter is waiting now
        time.sleep(0.01)
    with pytest.raises(BusyError, match="busy"):
        pace.run(lambda: None)  # a second waiter is one too many
    hold.set()
    first.join(5)
    waiter.join(10)
    assert not waiter.is_alive()
