"""Gradio's scheduled deletion of uploads survives uploads that arrive while it runs."""

import os

import gradio as gr
import pytest
from gradio import route_utils

from webapp.uploads import SnapshotSet, safe_cache_deletion


def demo_with_uploads(tmp_path, n: int) -> gr.Blocks:
    with gr.Blocks(delete_cache=(60, 60)) as demo:
        gr.Image()
    for i in range(n):
        path = tmp_path / f"u{i}.png"
        path.write_bytes(b"x")
        demo.upload_file_set.add(str(path))
    return demo


@pytest.fixture
def uploads_during_deletion(monkeypatch, tmp_path):
    """os.remove, as Gradio's cleaner calls it, with an upload landing at each call (as
    the event loop adds one while the cleaner's thread is between two files)."""
    real_remove, state = os.remove, {"demo": None, "n": 0}

    def remove(path):
        real_remove(path)
        state["n"] += 1
        late = tmp_path / f"late{state['n']}.png"
        late.write_bytes(b"x")
        state["demo"].upload_file_set.add(str(late))
    monkeypatch.setattr(route_utils.os, "remove", remove)
    return state


def test_gradios_own_sets_break_when_an_upload_lands_mid_walk(tmp_path, uploads_during_deletion):
    demo = demo_with_uploads(tmp_path, 5)
    uploads_during_deletion["demo"] = demo
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        route_utils.delete_files_created_by_app(demo, age=None)


def test_snapshot_sets_delete_everything_old_and_keep_the_newcomers(tmp_path,
                                                                   uploads_during_deletion):
    demo = demo_with_uploads(tmp_path, 5)
    safe_cache_deletion(demo)
    uploads_during_deletion["demo"] = demo
    route_utils.delete_files_created_by_app(demo, age=None)
    assert not list(tmp_path.glob("u*.png"))  # the old ones are gone
    assert sorted(os.path.basename(p) for p in demo.upload_file_set) == [
        f"late{i}.png" for i in range(1, 6)]  # the newcomers wait for the next round
    route_utils.delete_files_created_by_app(demo, age=None)
    assert not list(tmp_path.glob("late1.png"))


def test_every_set_the_cleaner_walks_is_a_snapshot_set():
    import app

    assert app.demo.temp_file_sets[0] is app.demo.upload_file_set
    assert all(isinstance(s, SnapshotSet) for s in app.demo.temp_file_sets)
    assert all(b.temp_files in app.demo.temp_file_sets for b in app.demo.blocks.values()
               if isinstance(b, gr.components.Component))
