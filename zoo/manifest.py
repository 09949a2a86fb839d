"""The manifest: what was trained, how, and what it measured; the zoo's source of truth.

The README table, the app's figures, the model card and the tests all read it, so no
accuracy or size is ever typed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.atomic import atomic_write

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class ManifestError(RuntimeError):
    """The manifest is missing, unreadable, or does not list what was asked for."""


def read_manifest(models_dir: str | Path) -> dict:
    path = Path(models_dir) / MANIFEST
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}; train the zoo with `python train.py`")
    return parse_manifest(path.read_bytes(), str(path))


def parse_manifest(data: bytes, origin: str) -> dict:
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{origin} is not valid JSON: {e}") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("variants"), dict):
        raise ManifestError(f"{origin} has no 'variants' table")
    return manifest


def write_manifest(models_dir: str | Path, manifest: dict) -> None:
    atomic_write(Path(models_dir) / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def entry(manifest: dict, name: str) -> dict:
    try:
        return manifest["variants"][name]
    except KeyError:
        raise ManifestError(f"the manifest lists no variant {name!r}; it has "
                            f"{', '.join(sorted(manifest['variants'])) or 'none'}") from None
