"""Accuracy per byte: which variants no other beats on both size and accuracy, and the
published points they are measured against.

Sizes are every byte a variant ships (weights file with its header, and config.json).
The reference points are as their authors report them, and are not like for like: the
BitNetMCU sizes are the weights in a C header for a microcontroller (no file format), in
kB as printed there.
"""

from __future__ import annotations

import math

BITNETMCU = "BitNetMCU (cpldcpu/BitNetMCU, mcu/readme.md)"
REFERENCES = [
    # (label, bytes, MNIST test accuracy, source)
    ("BitNetMCU 4-bit CNN, 64 wide", 11_000, 0.9955, BITNETMCU),
    ("BitNetMCU 4-bit CNN, 32 wide", 7_300, 0.9928, BITNETMCU),
    ("BitNetMCU 4-bit CNN, 16 wide", 5_400, 0.9906, BITNETMCU),
    ("BitNetMCU 4-bit CNN, 16 wide, small fc", 3_200, 0.9892, BITNETMCU),
    ("BitNetMCU 4-bit fully connected, 16x16 input", 12_300, 0.9902, BITNETMCU),
    ("BitNetMCU 2-bit fully connected", 1_100, 0.9422, BITNETMCU),
    ("MNIST_Engine (this project's origin), float64", 383_820, 0.9600, "MNIST_Engine"),
    ("MNIST_Engine (this project's origin), int8", 28_940, 0.9609, "MNIST_Engine"),
]


def pareto(entries: list[dict]) -> list[dict]:
    """The entries no other entry beats: none is as small and more accurate, or as
    accurate and smaller. Smallest first."""
    ranked = sorted(entries, key=lambda e: (e["bytes"], -e["test_accuracy"]))
    front, best = [], -math.inf
    for e in ranked:
        if e["test_accuracy"] > best:
            front.append(e)
            best = e["test_accuracy"]
    return front


def smallest_reaching(entries: list[dict], accuracy: float) -> dict | None:
    """The smallest entry with at least `accuracy` (a fraction), if any."""
    reaching = [e for e in entries if e["test_accuracy"] >= accuracy]
    return min(reaching, key=lambda e: (e["bytes"], -e["test_accuracy"]), default=None)


def chart_points(entries: list[dict]) -> list[dict]:
    """One row per variant (or ensemble: its members' bytes together) and per reference
    point, for a log-size scatter plot."""
    on_front = {e["name"] for e in pareto(entries)}
    rows = [{"name": e["name"], "KiB": e["bytes"] / 1024,
             "accuracy (%)": round(100 * e["test_accuracy"], 2),
             "kind": "digit-zoo ensemble" if "members" in e else f"digit-zoo {e['precision']}",
             "frontier": e["name"] in on_front} for e in entries]
    rows += [{"name": label, "KiB": size / 1024, "accuracy (%)": round(100 * acc, 2),
              "kind": "BitNetMCU (published)" if source == BITNETMCU else "MNIST_Engine (origin)",
              "frontier": False} for label, size, acc, source in REFERENCES]
    return rows
