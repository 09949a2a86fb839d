"""Gradio's per-request costs taken away: the login check on the event loop still refuses whom
it refused; matplotlib, when missing, is known missing."""

import importlib
import sys

import fastapi.dependencies.utils
import gradio as gr
import httpx
import pytest

from tests.conftest import free_port
from webapp.handoffs import login_check_on_the_loop, no_search_for_matplotlib


def test_the_login_check_on_the_loop_still_keeps_out_who_has_not_logged_in(monkeypatch):
    with gr.Blocks() as demo:
        gr.Markdown("private")
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                quiet=True, auth=("ada", "lovelace"))
    try:
        assert login_check_on_the_loop(demo.app) >= 3  # at least upload, join and data
        assert not demo.app.dependency_overrides  # which would rebuild every dependency
        assert login_check_on_the_loop(demo.app) == 0  # nothing left to move
        rebuilt = []
        build = fastapi.dependencies.utils.get_dependant
        monkeypatch.setattr(fastapi.dependencies.utils, "get_dependant",
                            lambda **kw: rebuilt.append(kw) or build(**kw))
        with httpx.Client(base_url=demo.local_url, timeout=30) as http:
            assert http.get("/config").status_code == 401
            assert http.post("/gradio_api/upload",
                             files={"files": ("a.png", b"x")}).status_code == 401
            assert http.post("/login", data={"username": "ada", "password": "no"}
                             ).status_code == 400
            assert http.post("/login", data={"username": "ada", "password": "lovelace"}
                             ).status_code == 200
            assert http.get("/config").status_code == 200  # the cookie the login set
            assert http.post("/gradio_api/upload",
                             files={"files": ("a.png", b"x")}).status_code == 200
        assert not rebuilt  # the requests' dependencies were built once, at launch
    finally:
        demo.close()


def test_a_missing_matplotlib_is_known_missing_and_an_installed_one_left_alone(
        monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # put back as it was, at the end
    del sys.modules["matplotlib"]
    if importlib.util.find_spec("matplotlib") is None:
        assert no_search_for_matplotlib()
        assert sys.modules["matplotlib"] is None
        with pytest.raises(ImportError):
            import matplotlib  # noqa: F401
        del sys.modules["matplotlib"]
    (tmp_path / "matplotlib").mkdir()  # one that is installed
    (tmp_path / "matplotlib" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not no_search_for_matplotlib()
    assert "matplotlib" not in sys.modules
