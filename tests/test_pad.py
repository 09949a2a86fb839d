"""The app's Sketchpad: every way in is bounded before anything is decoded or stored."""

import struct
import zlib
from io import BytesIO

import cv2
import gradio as gr
import numpy as np
import PIL.Image
import pytest
from gradio.components.image_editor import AcceptBlobs, EditorData, EditorDataBlobs

from tests.conftest import seven
from webapp.pad import MAX_LAYERS, MAX_PENDING, BlobStore, sketchpad


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and header declaring width x height, and almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.fixture
def pad():
    with gr.Blocks():
        return sketchpad(type="numpy", image_mode="L", canvas_size=(280, 280), fixed_canvas=True,
                   layers=False)


def blob(pad, key: str, kind: str, data: bytes, index=None) -> None:
    pad.accept_blobs(AcceptBlobs(data={"type": kind, "index": index, "file": b"", "id": key},
                                 files=[("blob", data)]))


def test_the_page_sees_gradios_sketchpad():
    kw = {"type": "numpy", "image_mode": "L", "canvas_size": (280, 280), "layers": False}
    with gr.Blocks() as demo:
        gr.Sketchpad(**kw)
        sketchpad(**kw)
    ours, gradios = (c for c in demo.config["components"] if c["type"] == "imageeditor")
    assert ours["props"] == gradios["props"] and ours["props"]["server_fns"] == ["accept_blobs"]


def test_a_stroke_reads_back_from_its_blobs(pad):
    blob(pad, "s1", "composite", png(seven()))
    blob(pad, "s1", "background", png(np.full((280, 280), 255, np.uint8)))
    value = pad.preprocess(EditorData(id="s1"))
    assert np.array_equal(value["composite"], seven())
    assert value["background"] is None  # the composite is all the models read: not decoded
    assert "s1" not in pad.blob_storage  # read once, then gone


def test_blobs_no_event_reads_do_not_pile_up(pad):
    for i in range(MAX_PENDING + 5):
        blob(pad, f"s{i}", "composite", png(seven()))
    assert list(pad.blob_storage) == [f"s{i}" for i in range(5, MAX_PENDING + 5)]
    store = BlobStore(limit=2)
    store["a"], store["b"], store["a"], store["c"] = 1, 2, 3, 4  # rewriting refreshes
    assert list(store.items()) == [("a", 3), ("c", 4)]


def test_blobs_are_bounded_in_bytes_whoever_posts_them():
    store = BlobStore(budget=10_000)
    for i in range(20):
        store[i] = EditorDataBlobs(background=b"x" * 1000, layers=[b"y" * 1000, None],
                                   composite=b"z" * 1000)
    assert list(store) == list(range(17, 20)) and store.nbytes == 9000
    store.pop(18)
    assert store.nbytes == 6000 and store.get(18) is None
    store[19] = EditorDataBlobs(background=None, layers=[], composite=b"z")
    assert store.nbytes == 3001
    store[99] = EditorDataBlobs(background=b"x" * 20_000, layers=[], composite=None)
    assert list(store) == [99]  # the newest stays, even alone past the budget


@pytest.mark.parametrize("kind, index", [("layer", 10**9), ("layer", -1), ("layer", None),
                                         ("layer", MAX_LAYERS), ("script", None)])
def test_a_blob_outside_the_pads_shape_is_refused(pad, kind, index):
    with pytest.raises(gr.Error):
        blob(pad, "x", kind, png(seven()), index)
    assert "x" not in pad.blob_storage


@pytest.mark.parametrize("side, reason", [(5000, "5000x5000 pixels: at most 4096"),
                                          (100_000, "over 4096x4096")])  # past PIL's limit
def test_an_image_is_refused_by_its_header_before_decoding(pad, monkeypatch, side, reason):
    decoded = []
    real_load = PIL.ImageFile.ImageFile.load
    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load",
                        lambda im: decoded.append(im.size) or real_load(im))
    blob(pad, "bomb", "composite", png_header_only(side, side))
    value = pad.preprocess(EditorData(id="bomb"))
    assert reason in value["error"] and value["composite"] is None
    assert decoded == []  # not a pixel read
    blob(pad, "ok", "composite", png(seven()))
    assert pad.preprocess(EditorData(id="ok"))["composite"].shape == (280, 280)
    assert decoded and set(decoded) == {(280, 280)}  # the check itself decodes nothing


@pytest.mark.parametrize("data, reason", [(b"not an image at all", "not an image"),
                                          (png_header_only(5000, 8), "5000x8 pixels: at most 4096"),
                                          (png_header_only(300, 300)[:40], "not an image"),
                                          (png_header_only(300, 300), "unreadable")])
def test_unreadable_or_oversized_uploads_become_a_reason(pad, data, reason):
    blob(pad, "k", "composite", data)
    value = pad.preprocess(EditorData(id="k"))
    assert reason in value["error"], value


def test_too_many_layers_are_refused_before_decoding(pad):
    layer = png(np.zeros((280, 280), np.uint8))
    pad.blob_storage["many"] = EditorDataBlobs(background=None, layers=[layer] * (MAX_LAYERS + 1),
                                               composite=None)
    assert "layers" in pad.preprocess(EditorData(id="many"))["error"]
    pad.blob_storage["few"] = EditorDataBlobs(background=layer, layers=[layer], composite=None)
    value = pad.preprocess(EditorData(id="few"))
    assert value["background"].shape == (280, 280) and len(value["layers"]) == 1


def test_a_stale_or_unknown_id_is_an_empty_pad(pad):
    assert pad.preprocess(EditorData(id="never-sent")) == {
        "background": None, "layers": [], "composite": None}
    assert pad.preprocess(None) is None


def test_png_header_only_declares_what_it_says():
    with PIL.Image.open(BytesIO(png_header_only(123, 45))) as im:
        assert im.size == (123, 45)


def test_a_clients_error_is_dropped_and_only_the_models_own_dump_keeps_one(pad):
    """A refusal travels as the value's "error": a client cannot set one (it would be shown
    as the app's message), but the model's own dump, checked again by an endpoint that reads
    its inputs itself (webapp.handoffs), keeps it."""
    from webapp.handoffs import CHECKED

    sent = {"background": None, "layers": [], "composite": None, "error": "<b>from a client</b>"}
    assert pad.data_model.model_validate(sent).error is None
    assert "error" not in pad.preprocess(pad.data_model.model_validate(sent))
    refused = pad.data_model.model_validate({"image": "x"})  # not a Sketchpad value
    assert refused.error and pad.data_model.model_validate(refused.model_dump()).error is None
    again = pad.data_model.model_validate(refused.model_dump(), context=CHECKED)
    assert pad.preprocess(again)["error"] == refused.error


def test_a_large_upload_is_decoded_by_opencv_at_the_large_images_pace(pad, monkeypatch):
    """Past LARGE_PIXELS the pad decodes as the JSON endpoint does: by OpenCV (which lets
    the server's other threads run), one at a time at webapp.turns.LARGE's pace, to the
    same pixels as Pillow's; ordinary drawings never wait for it, and a busy pace is a
    refusal with its reason, not an error."""
    from webapp import turns
    from webapp.turns import BusyError

    calls = []
    real = turns.LARGE.run
    monkeypatch.setattr(turns.LARGE, "run", lambda fn, *a: calls.append(1) or real(fn, *a))
    big = cv2.resize(seven(), (1400, 1400), interpolation=cv2.INTER_NEAREST)  # 1.96 Mpx

    def read(image: np.ndarray, key: str) -> dict:
        blob(pad, key, "composite", png(image))
        return pad.preprocess(EditorData(id=key))

    assert np.array_equal(read(big, "big")["composite"], big) and calls == [1]
    assert np.array_equal(read(seven(), "small")["composite"], seven()) and calls == [1]

    def busy(fn, *a):
        raise BusyError("the server is busy with large images; try again")
    monkeypatch.setattr(turns.LARGE, "run", busy)
    assert read(big, "again")["error"] == "the server is busy with large images; try again"
