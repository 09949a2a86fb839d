"""Gradio's scheduled deletion of uploads, made safe to run while uploads arrive.

With `delete_cache`, Gradio 6.31 deletes old uploads from a worker thread by iterating the
sets of files the app has seen, while the event loop adds new uploads to those same sets.
An upload landing mid-walk raises "Set changed size during iteration", which ends the
scheduled task for good: under steady traffic, uploads would then pile up until a restart.
Giving each of those sets an iteration that walks a snapshot removes the race.
"""

from __future__ import annotations

import gradio as gr
from gradio.components.base import Component


class SnapshotSet(set):
    """A set whose iteration walks a copy, taken at once (the copy holds the GIL throughout),
    so that other threads may add to it meanwhile."""

    def __iter__(self):
        return iter(set.copy(self))


def safe_cache_deletion(demo: gr.Blocks) -> None:
    """Make `demo`'s upload and temporary-file sets snapshot sets; call once it is built."""
    swapped = {}

    def snapshot(old: set) -> SnapshotSet:
        swapped[id(old)] = SnapshotSet(old)
        return swapped[id(old)]

    demo.upload_file_set = snapshot(demo.upload_file_set)
    for block in demo.blocks.values():
        if isinstance(block, Component):
            block.temp_files = snapshot(block.temp_files)
    demo.temp_file_sets[:] = [swapped.get(id(s), s) for s in demo.temp_file_sets]
