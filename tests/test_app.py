"""The app end to end: launched on 127.0.0.1, called through gradio_client like a script would."""

import asyncio
import base64
import inspect
import os
import shutil
import socket
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from engine.data.drawn import draw
from engine.preprocess import preprocess
from engine.views import AS_GIVEN
from tests.conftest import ROOT, WRITER, free_port, requires_mnist, seven
from webapp.canvas import to_array
from webapp.predictor import Predictor

SEVEN = seven(pen=10, box=(70, 60, 200, 230))  # a thick-pen 7, as a mouse draws it


def call(url, image, variants, tmp_path, **kwargs):
    from gradio_client import Client, handle_file

    path = tmp_path / f"d{time.perf_counter_ns()}.png"
    if isinstance(image, bytes):
        path.write_bytes(image)
    else:
        cv2.imwrite(str(path), image)
    client = Client(url, verbose=False)
    drawing = {"background": None, "layers": [], "composite": handle_file(str(path)),
               "id": None}
    return client.predict(drawing, variants, api_name="/predict", **kwargs)


@pytest.fixture(scope="module")
def app_url():
    import app

    app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
               quiet=True)
    yield app.demo.local_url
    app.demo.close()


def test_predict_endpoint_on_a_drawn_seven(app_url, tmp_path):
    import app

    variants = ["mlp-h128-float64", "mlp-h128-int8", "mlp-h128-int4", "mlp-h512-float32",
                "cnn-c32c64-float32", "cnn-c32c64-int4", "cnn-c8c16-int8"]
    result = call(app_url, SEVEN, variants, tmp_path)
    assert result["status"] == "ok" and result["errors"] == {}
    assert set(result["probabilities"]) == set(variants)
    for name in variants:
        probs = result["probabilities"][name]
        assert len(probs) == 10 and abs(sum(probs) - 1) < 1e-6
        assert result["top"][name] == 7, (name, probs)
    local = app.predict(SEVEN, variants)  # the same function, called in-process
    for name in variants:
        assert np.allclose(local["probabilities"][name], result["probabilities"][name])
    assert "input" not in result  # 10 KB of JSON a script rarely wants: only on request
    with_input = call(app_url, SEVEN, variants[:1], tmp_path, with_input=True)
    assert np.asarray(with_input["input"]).shape == (28, 28)
    assert with_input["probabilities"] == {variants[0]: result["probabilities"][variants[0]]}


@requires_mnist
def test_predict_endpoint_on_mouse_drawn_mnist_digits(app_url, tmp_path, mnist):
    rng = np.random.default_rng(3)
    right = 0
    for i in range(10):
        result = call(app_url, draw(mnist.test_images[i], rng, 280), ["mlp-h512x256-float32"],
                      tmp_path)
        right += result["top"]["mlp-h512x256-float32"] == mnist.test_labels[i]
    assert right >= 9


def test_the_default_selection_leads_with_the_best_cnn():
    import app

    cnns = [e for e in app.ENTRIES.values() if e["family"] == "cnn"
            and e["precision"] in ("float32", "float64")]
    best = max(cnns, key=lambda e: (e["test_accuracy"], -e["bytes"]))
    assert app.DEFAULT[0] == best["name"]
    assert {"mlp-h128-float64", "mlp-h128-int8", "mlp-h128-int4"} <= set(app.DEFAULT)
    table = app._zoo_table()
    assert {"family", "shape"} <= set(table.columns) and "hidden" not in table.columns
    assert set(table["family"]) == {"mlp", "cnn"}


def test_the_zoo_votes_is_offered_and_answers_as_a_row():
    import app

    steady = {n for n, e in app.ENSEMBLES.items() if not e["experimental"]}
    assert steady and steady <= set(app.DEFAULT)
    # the experimental votes are offered, not run on every stroke
    assert set(app.ENSEMBLES) - steady and not (set(app.ENSEMBLES) - steady) & set(app.DEFAULT)
    labels = dict((v, k) for k, v in app._choice_label_pairs())
    assert set(app.ENSEMBLES) <= set(labels)
    name, e = next(iter(app.ENSEMBLES.items()))
    views = e.get("views", [AS_GIVEN])
    votes = f"{len(e['members'])}" + (f" × {len(views)} views" if len(views) > 1 else "")
    assert f"the zoo votes ({votes})" in labels[name]
    headline, table, _ = app.show(SEVEN, [name, *e["members"]], explain=False)
    assert ">7<" in headline  # the first selected row, the ensemble, leads
    assert f"<code>{name}</code>" in table and f"the zoo votes: {votes}</span>" in table
    assert f"{e['bytes'] / 1024:,.1f} KiB" in table
    result = app.predict(SEVEN, [name, *e["members"]])
    assert result["status"] == "ok" and result["top"][name] == 7
    vote = app.PREDICTOR.zoo.load_ensemble(name)  # the library's vote, views and all
    assert np.allclose(result["calibrated"][name],
                       vote.predict_proba(preprocess(to_array(SEVEN)).x)[0], atol=1e-6)
    if views == [AS_GIVEN]:  # the members' own rows are their readings
        assert np.allclose(result["calibrated"][name],
                           np.mean([result["calibrated"][m] for m in e["members"]], axis=0))


def test_blank_canvas_gets_a_hint_and_default_variants(app_url, tmp_path):
    result = call(app_url, np.full((280, 280), 255, np.uint8), [], tmp_path)
    assert result["status"] == "blank" and result["probabilities"] == {}
    assert result["message"] == "Draw a digit."


def test_odd_variant_lists_over_the_api_get_an_answer_not_an_app_error(app_url, tmp_path):
    import app

    default = call(app_url, SEVEN, None, tmp_path)  # None is "the default selection"
    assert default["status"] == "ok" and list(default["top"]) == app.DEFAULT
    for bad in ([["x"]], [{}]):
        r = call(app_url, SEVEN, bad, tmp_path)
        assert r["status"] == "error" and "list of variant names" in r["message"], bad
    unknown = call(app_url, SEVEN, ["mlp-h32-int8", "nope"], tmp_path)
    assert unknown["top"] == {"mlp-h32-int8": 7}
    assert "no variant 'nope'" in unknown["errors"]["nope"]


def test_an_upload_too_large_is_refused_from_its_header(app_url, tmp_path, monkeypatch):
    """Gradio decodes uploads before `predict` runs: the pad looks at the headers first,
    and a refused upload is an error status, not a decoded 81-megapixel image."""
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData
    from PIL import ImageFile

    import app

    r = call(app_url, np.full((300, 5000), 255, np.uint8), [], tmp_path)
    assert r["status"] == "error" and "5000x300 pixels: at most 4096" in r["message"], r
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: loads.append(im.size))
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.full((9000, 9000), 255, np.uint8))  # 81 MPixel, 300 KB on disk
    layers = tmp_path / "small.png"
    cv2.imwrite(str(layers), SEVEN)
    for payload in (EditorData(composite=FileData(path=str(big))),
                    EditorData(layers=[FileData(path=str(layers))] * 9)):
        assert "error" in app.pad.preprocess(payload)
    assert loads == []  # no pixel was decoded


def test_a_plain_image_file_is_read_as_the_drawing(app_url, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    for name, image in (("seven", SEVEN), ("wide", np.full((10, 5000), 255, np.uint8))):
        cv2.imwrite(str(tmp_path / f"{name}.png"), image)
    seven_file = client.predict(handle_file(str(tmp_path / "seven.png")), ["mlp-h32-int8"],
                                api_name="/predict")
    assert seven_file["status"] == "ok" and seven_file["top"] == {"mlp-h32-int8": 7}, seven_file
    wide = client.predict(handle_file(str(tmp_path / "wide.png")), None, api_name="/predict")
    assert wide["status"] == "error" and "5000x10 pixels" in wide["message"]  # bounded alike


def test_a_drawing_that_is_not_one_is_told_what_a_drawing_is(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    for bad in ("seven.png", 7, [1, 2], {"image": "x"}, {"composite": 5}, {"layers": "x"}):
        r = client.predict(bad, ["mlp-h32-int8"], api_name="/predict")
        assert r["status"] == "error" and not r["probabilities"], (bad, r)
        assert '{"background", "layers", "composite"}' in r["message"], (bad, r)


def raw_call(url: str, data: list) -> tuple[str, object]:
    """POST /gradio_api/call/predict with `data`, as a script without gradio_client would:
    the final event's kind ("complete" or "error") and its data."""
    import json

    import httpx

    api = url.rstrip("/") + "/gradio_api/call/predict"
    event_id = httpx.post(api, json={"data": data}, timeout=30).json()["event_id"]
    stream = httpx.get(f"{api}/{event_id}", timeout=60).text
    events = [(head.removeprefix("event: "), json.loads(body.removeprefix("data: ")))
              for head, body in (block.split("\n", 1) for block in stream.strip().split("\n\n"))
              if head != "event: heartbeat"]
    return events[-1]


def test_a_raw_http_call_may_leave_out_the_optional_inputs(app_url, tmp_path):
    import httpx

    import app

    cv2.imwrite(str(tmp_path / "seven.png"), SEVEN)
    with (tmp_path / "seven.png").open("rb") as f:
        path = httpx.post(app_url.rstrip("/") + "/gradio_api/upload",
                          files={"files": f}).json()[0]
    drawing = {"background": None, "layers": [], "id": None,
               "composite": {"path": path, "meta": {"_type": "gradio.FileData"}}}
    kind, data = raw_call(app_url, [drawing, ["mlp-h32-int8"]])
    assert kind == "complete" and data[0]["top"] == {"mlp-h32-int8": 7}, data
    assert "saliency" not in data[0] and "input" not in data[0]  # the defaults: False
    kind, data = raw_call(app_url, [None])
    assert kind == "complete" and data[0]["status"] == "blank", data
    assert list(data[0]["probabilities"]) == [] and app.DEFAULT  # no drawing, nothing run
    kind, data = raw_call(app_url, [])
    assert kind == "error" and "/predict needs drawing" in data["error"], data


def test_a_broken_variant_fails_alone(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models)
    weights = models / "variants/mlp-h64-int8/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    p = Predictor(models_dir=models)
    r = p.predict(SEVEN, ["mlp-h64-int8", "mlp-h64-int4", "nope"])
    assert "modified or truncated" in r.errors["mlp-h64-int8"]
    assert "no variant 'nope'" in r.errors["nope"]
    assert r.probabilities["mlp-h64-int4"] and r.status == "ok"


def test_unreadable_input_is_reported_not_raised():
    r = Predictor().predict("not an image", ["mlp-h32-int8"])
    assert r.status == "error" and "Cannot read that image" in r.message
    r = Predictor().predict({"image": SEVEN}, ["mlp-h32-int8"])  # not a blank pad: no keys
    assert r.status == "error" and "must be a Sketchpad value" in r.message


def test_unreachable_hub_falls_back_to_shipped_zoo(hub):
    hub.stop()
    p = Predictor(repo="tester/zoo")
    assert "Could not open the Hub zoo" in p.notice and p.source == "the shipped zoo (models/)"
    assert p.predict(SEVEN, ["mlp-h32-int8"]).probabilities


def test_app_serves_variants_from_a_hub(hub, tmp_path):
    from zoo.hub import push

    push(ROOT / "models", "tester/digit-zoo", token=WRITER)
    port = free_port()
    env = {**os.environ, "ZOO_REPO": "tester/digit-zoo", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        hub.requests.clear()
        result = call(url, SEVEN, ["mlp-h256-int4", "mlp-h128-int8"], tmp_path)
        assert result["top"] == {"mlp-h256-int4": 7, "mlp-h128-int8": 7}, result
        fetched = {p.rsplit("/", 2)[-2] for m, p in hub.requests
                   if m == "GET" and "/resolve/" in p and "variants/" in p}
        assert fetched == {"mlp-h256-int4", "mlp-h128-int8"}  # only what was selected
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_variant_lists_are_validated_at_the_edge():
    p = Predictor()
    one = p.predict(SEVEN, "mlp-h32-int8")  # a string is one name, not 12 letters
    assert list(one.probabilities) == ["mlp-h32-int8"] and one.status == "ok"
    twice = p.predict(SEVEN, ["mlp-h32-int8"] * 10_000)  # each name runs once
    assert list(twice.probabilities) == ["mlp-h32-int8"] and len(twice.ms) == 1
    most = len(p.manifest["variants"]) + len(p.ensembles)  # every row the zoo has
    too_many = p.predict(SEVEN, [f"v{i}" for i in range(most + 1)])
    assert too_many.status == "error" and "at most" in too_many.message
    for bad in ([["x"]], [{}], 5, {"a": 1}):
        r = p.predict(SEVEN, bad)
        assert r.status == "error" and "list of variant names" in r.message, bad


def test_api_variants_arrive_as_json_and_get_the_apps_own_answers(app_url, tmp_path):
    import app

    default = call(app_url, SEVEN, None, tmp_path)  # None: the default selection
    assert list(default["top"]) == app.DEFAULT and set(default["top"].values()) == {7}
    one = call(app_url, SEVEN, "mlp-h32-int8", tmp_path)  # a string is one name
    assert one["top"] == {"mlp-h32-int8": 7}
    junk = call(app_url, SEVEN, [["x"], {}], tmp_path)  # a status, not an exception
    assert junk["status"] == "error" and "list of variant names" in junk["message"]


def test_api_refuses_an_oversized_image_by_its_header(app_url, tmp_path):
    from tests.test_pad import png_header_only

    # 100,000 x 100,000 pixels declared in a 70-byte file: decoding it would take 10 GB.
    result = call(app_url, png_header_only(100_000, 100_000), None, tmp_path)
    assert result["status"] == "error" and "over 4096x4096" in result["message"], result
    wide = call(app_url, np.full((10, 5000), 255, np.uint8), None, tmp_path)
    assert wide["status"] == "error" and "5000x10 pixels" in wide["message"]


def test_a_full_queue_answers_busy_at_once(app_url, tmp_path):
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    import app

    queue = app.demo._queue
    assert queue.max_size == app.QUEUE_SIZE  # bounded, by the app
    saved, queue.max_size = queue.max_size, 0  # as if QUEUE_SIZE requests were waiting
    try:
        with pytest.raises((QueueError, AppError), match=r"(?i)queue is full"):
            call(app_url, SEVEN, None, tmp_path)
    finally:
        queue.max_size = saved
    assert call(app_url, SEVEN, None, tmp_path)["status"] == "ok"


def test_the_server_keeps_little_per_call():
    import app

    assert app.demo.delete_cache == (60, 60)  # uploads go a minute or two after they came
    assert app.LAUNCH["state_session_capacity"] == app.SESSIONS <= 1000
    assert app.LAUNCH["run_history"] is False  # no per-run record in each browser
    assert app.LAUNCH["max_file_size"]


def test_the_api_reads_its_inputs_in_its_own_thread_on_a_fast_server(app_url, tmp_path):
    """/predict preprocesses its inputs and postprocesses its answer in its function's
    thread, not in a thread hop each, and Gradio's login check runs on the event loop
    (webapp.handoffs), with the same answers; the server runs on uvloop and httptools
    (requirements.txt), not pure-Python HTTP."""
    import app

    fn = next(f for f in app.demo.fns.values() if f.api_name == "predict")
    assert not fn.preprocess and not fn.postprocess and fn.fn.__wrapped__ is app.predict
    result = call(app_url, SEVEN, ["mlp-h32-int8"], tmp_path, with_input=True)
    local = app.predict(SEVEN, ["mlp-h32-int8"], with_input=True)
    assert result["top"] == local["top"] == {"mlp-h32-int8": 7}
    assert np.allclose(result["input"], local["input"])
    check = next(dep.call for route in app.demo.app.routes if route.path == "/config"
                 for dep in route.dependant.dependencies)
    assert check.__name__ == "login_check" and inspect.iscoroutinefunction(check)
    assert not app.demo.app.dependency_overrides  # put in place, not overridden
    config = app.demo.server.config
    assert config.http_protocol_class.__module__.endswith("httptools_impl")
    assert config.get_loop_factory().__module__.startswith("uvloop")


def test_a_stroke_is_one_job_and_the_page_is_not_the_api():
    import app

    fns = list(app.demo.fns.values())
    # the pad has no change listener (so it exports and uploads nothing: the page sends
    # strokes) and no other one that runs on the server
    on_pad = [f for f in fns if any(t[0] == app.pad._id for t in f.targets)]
    assert not [f for f in on_pad if f.fn is not None or (app.pad._id, "change") in f.targets]
    on_stroke = [f for f in fns if (app.stroke._id, "change") in f.targets]
    assert len(on_stroke) == 1 and not app.demo.default_config.renderables  # no @gr.render
    page = on_stroke[0]
    assert page.inputs == [app.stroke, app.variants, app.why_open]
    assert page.outputs == [app.headline, app.table, app.reasons]
    assert page.api_visibility == "private"
    assert not page.queue  # a plain request, not a join and a stream of events
    public = [f for f in fns if f.api_visibility == "public"]
    assert [f.api_name for f in public] == ["predict"] and public[0].concurrency_id == "api"
    assert not public[0].targets  # nothing on the page triggers it
    headline, table, reasons = app.show(SEVEN, ["mlp-h32-int8"])
    assert '<span class="digit">7</span>' in headline and "mlp-h32-int8" in table
    # why: the five preprocessing steps and the variant's map, as inline pictures
    assert reasons.count("<img") == 6 and "mlp-h32-int8: 7" in reasons
    headline, table, reasons = app.show(SEVEN, [])  # nothing ticked: a hint, nothing run
    assert "Pick a variant" in headline and "<td>" not in table and "<img" not in reasons
    # what the page sends: the pad's composite at half size, as a PNG data URL
    half = cv2.resize(SEVEN, (140, 140), interpolation=cv2.INTER_AREA)
    url = "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", half)[1]).decode()
    headline, table, _ = asyncio.run(app.show_stroke(url, ["mlp-h32-int8"]))
    assert '<span class="digit">7</span>' in headline and "mlp-h32-int8" in table
    assert "Draw a digit" in asyncio.run(app.show_stroke("", ["mlp-h32-int8"]))[0]  # the bin
    for junk in ("data:text/plain;base64,aGk=", "data:image/png;base64,%%%", "x" * 10,
                 "data:image/png;base64,iVBORé", 12, "data:image/png;base64," + "A" * 300_000):
        assert "⚠️" in asyncio.run(app.show_stroke(junk, ["mlp-h32-int8"]))[0], junk
    # the page's events take any client's variant list: each name once, a string is a name
    table = app.show(SEVEN, ["mlp-h32-int8"] * 1000)[1]
    assert table.count("<tr") == 2
    assert app.show(SEVEN, "mlp-h32-int8")[1].count("<tr") == 2
    with pytest.raises(ValueError):  # checked by its data model before Gradio keeps it
        app.StrokeData.model_validate("x" * (app.MAX_STROKE_CHARS + 1))


def test_api_gives_calibrated_probabilities_and_saliency_on_request(app_url, tmp_path):
    plain = call(app_url, SEVEN, ["mlp-h32-int8"], tmp_path)
    assert "saliency" not in plain and "input" not in plain
    cal = plain["calibrated"]["mlp-h32-int8"]
    assert abs(sum(cal) - 1) < 1e-6 and int(np.argmax(cal)) == plain["top"]["mlp-h32-int8"]
    assert plain["not_a_digit"] is None or 0 <= plain["not_a_digit"] <= 1
    why = call(app_url, SEVEN, ["mlp-h32-int8"], tmp_path, explain=True, with_input=True)
    m = np.array(why["saliency"]["mlp-h32-int8"])
    off_ink = np.array(why["input"]) == 0  # (rounded to 3 decimals in the answer)
    assert m.shape == (28, 28) and np.abs(m[off_ink]).max() < 0.01 * np.abs(m).max()


def test_the_page_events_refuse_what_the_page_never_sends(app_url):
    """The stroke event is reachable by any client: a value past the page's size is refused
    before Gradio keeps it in the session, and any body past 9 MB before a route reads it."""
    import httpx

    import app

    fn = next(i for i, f in app.demo.fns.items() if (app.stroke._id, "change") in f.targets)
    run = app_url + "gradio_api/run/predict"
    half = cv2.resize(SEVEN, (140, 140), interpolation=cv2.INTER_AREA)
    url = "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", half)[1]).decode()
    ok = httpx.post(run, json={"data": [url, ["mlp-h32-int8"], False], "fn_index": fn,
                               "session_hash": "t1"}, timeout=30)
    assert ok.status_code == 200 and '<span class=\\"digit\\">7</span>' in ok.text
    big = httpx.post(run, json={"data": ["x" * (app.MAX_STROKE_CHARS + 1), [], False],
                                "fn_index": fn, "session_hash": "t2"}, timeout=30)
    assert big.status_code >= 400
    huge = httpx.post(run, content=b"{" + b" " * (9 * 2**20) + b"}", timeout=30,
                      headers={"content-type": "application/json"})
    assert huge.status_code == 413
