"""What train.py writes into the manifest, entry by entry, in the order a manifest lists it
(json keeps insertion order, so the order is part of the file). zoo/manifest.py holds the
schema that reads it back.
"""

from __future__ import annotations

import platform

import cv2
import numpy as np
import safetensors

from engine.calibration import report as calibration_report
from engine.model import Model, logits
from engine.training import to_input
from zoo.drawings import drawn_figures
from zoo.manifest import MANIFEST_FORMAT, member_hashes
from zoo.registry import Ensemble

Labelled = tuple[np.ndarray, np.ndarray]

DESCRIBED = ("name", "architecture", "family", "shape", "model_config", "precision", "bits",
             "experimental", "parent", "params")  # from Variant.describe()
CALIBRATION = ("temperature", "calibration_images", "ece_test", "ece_test_calibrated")
# The float parent's training, copied into every variant derived from it (and read back
# from the parent's entry when a run derives without training).
TRAINING = ("recipe", "seed", "epochs", "train_images", "train_seconds", "final_train_loss",
            "quick")


def manifest_versions() -> dict[str, str]:
    """The libraries a run was made with, as each entry records them."""
    return {"python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "safetensors": safetensors.__version__}


def manifest_top(test_images: int) -> dict:
    """The manifest's fields beside "variants": the format, and what the accuracies are of."""
    return {"format_version": MANIFEST_FORMAT,
            "dataset": {"name": "MNIST", "test_images": test_images}}


def measured(model: Model, test: Labelled, held_out: Labelled, drawn_per_style: int) -> dict:
    """What a variant's files measure, as `variant_entry` takes it: MNIST test images
    (uint8) read, calibration fitted on `held_out` and checked on `test`, drawn digits."""
    (x_test, y_test), (x_cal, y_cal) = test, held_out
    z = logits(model, to_input(x_test, model.dtype))
    calibration = calibration_report(logits(model, to_input(x_cal, model.dtype)), y_cal, z,
                                     y_test)
    return {"test_correct": int((z.argmax(axis=1) == y_test).sum()),
            "calibration": calibration,
            "drawn": drawn_figures(model, drawn_per_style, calibration["temperature"])}


def variant_entry(described: dict, files: dict[str, dict], *, test_correct: int,
                  parent_correct: int, test_images: int, qat: dict | None, calibration: dict,
                  training: dict, date: str, drawn: dict | None = None,
                  versions: dict[str, str] | None = None) -> dict:
    """One variant's entry: what it is (`described`, a Variant.describe()), its written
    `files`, what those files measured on the test set (and on drawn digits:
    zoo.drawings), and how they were made."""
    return {**{k: described[k] for k in DESCRIBED},
            "files": files,
            "bytes": sum(f["bytes"] for f in files.values()),
            "test_correct": test_correct,
            "test_accuracy": test_correct / test_images,
            "parent_accuracy": parent_correct / test_images,
            "delta_to_parent": round(100 * (test_correct - parent_correct) / test_images, 2),
            "qat": qat,
            **(drawn or {}),
            **{k: calibration[k] for k in CALIBRATION},
            **{k: training[k] for k in TRAINING},
            # the fine-tune on drawings after MNIST (train.py --drawings), when there was one
            **({"drawings": training["drawings"]} if training.get("drawings") else {}),
            "versions": versions or manifest_versions(),
            "date": date}


def ensemble_entry(ensemble: Ensemble, variants: dict, *, test_correct: int, test_images: int,
                   validation_correct: int, validation_images: int, ece_test: float,
                   date: str, drawn: dict | None = None) -> dict:
    """One ensemble's entry: its members (`variants`, the manifest's entries) and what
    their averaged calibrated probabilities measured."""
    members = list(ensemble.members)
    return {"name": ensemble.name, "members": members, "views": list(ensemble.views),
            "description": ensemble.description,
            "experimental": any(variants[m].get("experimental", False) for m in members),
            "bytes": sum(variants[m]["bytes"] for m in members),
            "test_correct": test_correct,
            "test_accuracy": test_correct / test_images,
            "validation_accuracy": validation_correct / validation_images,
            "ece_test": round(ece_test, 5),
            **(drawn or {}),
            "member_sha256": member_hashes(variants, members),
            "date": date}


def detector_entry(section: dict, *, quick: bool, date: str,
                   versions: dict[str, str] | None = None) -> dict:
    """The "detector" section: the detector's own (zoo.detector.manifest_section) and how
    this run made it."""
    return {**section, "quick": quick, "versions": versions or manifest_versions(),
            "date": date}
