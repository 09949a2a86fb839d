"""Gradio's login check moved onto the event loop still refuses whom it refused."""

import gradio as gr
import httpx

from tests.conftest import free_port
from webapp.handoffs import login_check_on_the_loop


def test_the_login_check_on_the_loop_still_keeps_out_who_has_not_logged_in():
    with gr.Blocks() as demo:
        gr.Markdown("private")
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                quiet=True, auth=("ada", "lovelace"))
    try:
        overrides = demo.app.dependency_overrides
        assert not overrides
        login_check_on_the_loop(demo.app)
        assert len(overrides) == 1
        with httpx.Client(base_url=demo.local_url, timeout=30) as http:
            assert http.get("/config").status_code == 401
            assert http.post("/gradio_api/upload",
                             files={"files": ("a.png", b"x")}).status_code == 401
            assert http.post("/login", data={"username": "ada", "password": "no"}
                             ).status_code == 400
            assert http.post("/login", data={"username": "ada", "password": "lovelace"}
                             ).status_code == 200
            assert http.get("/config").status_code == 200  # the cookie the login set
    finally:
        demo.close()
