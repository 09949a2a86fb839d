"""The manifest: what was trained, how, and what it measured; the zoo's source of truth.

The README table, the app's figures, the model card and the tests all read it, so no
accuracy or size is ever typed by hand.
"""

from __future__ import annotations

import json
import math
import re
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
    return validate_manifest(manifest, origin)


def write_manifest(models_dir: str | Path, manifest: dict) -> None:
    atomic_write(Path(models_dir) / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def entry(manifest: dict, name: str) -> dict:
    try:
        return manifest["variants"][name]
    except KeyError:
        raise ManifestError(f"the manifest lists no variant {name!r}; it has "
                            f"{', '.join(sorted(manifest['variants'])) or 'none'}") from None


# --- schema ------------------------------------------------------------------------------
# A manifest may come from the Hub, i.e. from anyone: every field a reader relies on is
# checked once, here, so the app, the card and the loaders never meet a wrong type. Fields
# beyond these (recipe, versions, the architecture's own description) are not required.
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is not a count


def _is_number(v: object) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _is_relative_posix(path: object) -> bool:
    return (isinstance(path, str) and bool(path) and not path.startswith("/")
            and "\\" not in path and all(p not in ("", ".", "..") for p in path.split("/")))


_FIELDS = {
    "architecture": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "precision": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "bits": (_is_int, "an integer"),
    "experimental": (lambda v: isinstance(v, bool), "true or false"),
    "parent": (lambda v: v is None or isinstance(v, str), "a variant name or null"),
    "params": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "bytes": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "test_correct": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "test_accuracy": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
}


def _file_problem(rel: object, info: object) -> str | None:
    if not _is_relative_posix(rel):
        return f"file path {_short(rel)} is not a relative POSIX path"
    if not isinstance(info, dict):
        return f"file {_short(rel)} is not an object"
    if not (_is_int(info.get("bytes")) and info["bytes"] >= 0):
        return (f"file {_short(rel)} field 'bytes' must be an integer >= 0, not "
                f"{_short(info.get('bytes'))}")
    if not (isinstance(info.get("sha256"), str) and _SHA256.fullmatch(info["sha256"])):
        return f"file {_short(rel)} field 'sha256' must be 64 lowercase hex digits"
    return None


def _short(v: object) -> str:
    text = repr(v)  # a remote value may be huge; a message needs its start only
    return text if len(text) <= 60 else text[:57] + "..."


def validate_manifest(manifest: object, origin: str) -> dict:
    """`manifest`, if it has the shape every reader relies on; else a ManifestError that
    names `origin`, the variant and the field. One bad entry rejects the whole manifest:
    a zoo is published and pinned as one revision, so it is used whole or not at all."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"{origin} is not a JSON object")
    version = manifest.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ManifestError(f"{origin} has format_version {_short(version)}; this code reads "
                            f"{FORMAT_VERSION}")
    variants = manifest.get("variants")
    if not isinstance(variants, dict):
        raise ManifestError(f"{origin} has no 'variants' table")
    if not variants:
        raise ManifestError(f"{origin} lists no variants")
    for name, e in variants.items():
        where = f"{origin}: variant {_short(name)}"
        if not isinstance(e, dict):
            raise ManifestError(f"{where} is a {type(e).__name__}, not an object")
        if e.get("name") != name:
            raise ManifestError(f"{where} field 'name' is {_short(e.get('name'))}, not its key")
        for key, (ok, want) in _FIELDS.items():
            if key not in e:
                raise ManifestError(f"{where} has no field {key!r}")
            if not ok(e[key]):
                raise ManifestError(f"{where} field {key!r} must be {want}, not {_short(e[key])}")
        files = e.get("files")
        if not isinstance(files, dict) or not files:
            raise ManifestError(f"{where} field 'files' must be a non-empty object of "
                                "path -> {bytes, sha256}")
        for rel, info in files.items():
            if problem := _file_problem(rel, info):
                raise ManifestError(f"{where} {problem}")
    return manifest
