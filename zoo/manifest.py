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
from engine.files import FileSizeError, read_limited
from engine.views import VIEWS, check_views
from zoo.artifacts import file_limit, variant_files
from zoo.registry import is_valid_name

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # a zoo of thousands of variants fits in a tenth of it


class ManifestError(RuntimeError):
    """The manifest is missing, unreadable, or does not list what was asked for."""


def _read(models_dir: str | Path) -> tuple[bytes, str]:
    path = Path(models_dir) / MANIFEST
    if not path.exists():
        raise ManifestError(f"no manifest at {path}; train the zoo with `python train.py`")
    # Confined like the variant files (zoo.artifacts): the manifest is what vouches for
    # them, so it must be the folder's own.
    try:
        real, top = path.resolve(), path.parent.resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise ManifestError(f"{path} cannot be resolved ({e})") from e
    if not real.is_relative_to(top):
        raise ManifestError(f"{path} leads outside the models folder (to {real}); refused")
    try:
        return read_limited(real, MAX_MANIFEST_BYTES), str(path)
    except FileSizeError as e:
        raise ManifestError(f"{e}; not read as a manifest") from None
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e.strerror or e}") from e


def read_manifest(models_dir: str | Path) -> dict:
    """The folder's manifest, every entry valid (what train.py and a push need: a zoo that
    is rewritten or published must not silently lose an entry)."""
    return parse_manifest(*_read(models_dir))


def read_usable(models_dir: str | Path) -> tuple[dict, dict[str, str]]:
    """The folder's manifest with its valid entries, and why each other one is unusable
    (what a reader needs: one bad entry must not take the others down)."""
    return parse_usable(*_read(models_dir))


def _load_json(data: bytes, origin: str) -> object:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{origin} is {len(data)} bytes, more than a manifest needs "
                            f"({MAX_MANIFEST_BYTES})")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, or a 5,000-digit int
        raise ManifestError(f"{origin} is not valid JSON: {_short(str(e))}") from e
    except RecursionError:
        raise ManifestError(f"{origin} nests too deeply to be a manifest") from None


def parse_manifest(data: bytes, origin: str) -> dict:
    return validate_manifest(_load_json(data, origin), origin)


def parse_usable(data: bytes, origin: str) -> tuple[dict, dict[str, str]]:
    return check_manifest(_load_json(data, origin), origin)


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


def _is_text(v: object) -> bool:
    return isinstance(v, str) and bool(v)


_FIELDS = {
    "architecture": (_is_text, "a non-empty string"),
    "precision": (_is_text, "a non-empty string"),
    "bits": (_is_int, "an integer"),
    "experimental": (lambda v: isinstance(v, bool), "true or false"),
    "parent": (lambda v: v is None or isinstance(v, str), "a variant name or null"),
    "params": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "bytes": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "test_correct": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "test_accuracy": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
}
# Not required (older zoos lack them), but the app and the tables read them when present.
_OPTIONAL = {
    "family": (_is_text, "a non-empty string"),
    "shape": (lambda v: isinstance(v, str), "a string"),
    "hidden": (lambda v: isinstance(v, list) and all(_is_int(h) for h in v),
               "a list of integers"),
    "delta_to_parent": (_is_number, "a finite number"),
    "parent_accuracy": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "temperature": (lambda v: _is_number(v) and 0.01 <= v <= 100, "a number in [0.01, 100]"),
    "qat": (lambda v: v is None or (isinstance(v, dict) and _is_number(v.get("ptq_accuracy"))
                                    and 0 <= v["ptq_accuracy"] <= 1),
            "null or an object with 'ptq_accuracy' in [0, 1]"),
    "drawn_accuracy": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "drawn_ece": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
}


def _file_problem(rel: object, info: object) -> str | None:
    if not _is_relative_posix(rel):
        return f"file path {_short(rel)} is not a relative POSIX path"
    if not isinstance(info, dict):
        return f"file {_short(rel)} is not an object"
    if not (_is_int(info.get("bytes")) and info["bytes"] >= 0):
        return (f"file {_short(rel)} field 'bytes' must be an integer >= 0, not "
                f"{_short(info.get('bytes'))}")
    if info["bytes"] > (limit := file_limit(rel)):
        return f"file {_short(rel)} is {info['bytes']} bytes, more than the {limit} allowed"
    if not (isinstance(info.get("sha256"), str) and _SHA256.fullmatch(info["sha256"])):
        return f"file {_short(rel)} field 'sha256' must be 64 lowercase hex digits"
    return None


def _short(v: object) -> str:
    text = repr(v)  # a remote value may be huge; a message needs its start only
    return text if len(text) <= 60 else text[:57] + "..."


def entry_problem(name: object, e: object) -> str | None:
    """What is wrong with one manifest entry (worded to follow "variant <name>"), or None."""
    if not is_valid_name(name):
        return ("is not a valid variant name (1-100 letters, digits, '-', '_' or '.', "
                "no '..')")
    if not isinstance(e, dict):
        return f"is a {type(e).__name__}, not an object"
    if e.get("name") != name:
        return f"field 'name' is {_short(e.get('name'))}, not its key"
    for key, (ok, want) in _FIELDS.items():
        if key not in e:
            return f"has no field {key!r}"
        if not ok(e[key]):
            return f"field {key!r} must be {want}, not {_short(e[key])}"
    for key, (ok, want) in _OPTIONAL.items():
        if key in e and not ok(e[key]):
            return f"field {key!r} must be {want}, not {_short(e[key])}"
    return _files_problem(name, e.get("files"))


def _files_problem(name: str, files: object) -> str | None:
    if not isinstance(files, dict) or not files:
        return "field 'files' must be a non-empty object of path -> {bytes, sha256}"
    for rel, info in files.items():
        if problem := _file_problem(rel, info):
            return problem
    if set(files) != set(expected := variant_files(name)):
        return f"field 'files' must list exactly {' and '.join(expected)}"
    return None


DETECTOR = "detector"  # the manifest's not-a-digit detector (zoo/detector.py), if any


def detector_problem(d: object) -> str | None:
    """What is wrong with the manifest's "detector" section (worded to follow "the
    detector"), or None."""
    if not isinstance(d, dict):
        return f"is a {type(d).__name__}, not an object"
    if not is_valid_name(d.get("name")):
        return f"has no valid name ({_short(d.get('name'))})"
    t = d.get("threshold")
    if not (_is_number(t) and 0 <= t <= 1):
        return f"field 'threshold' must be a number in [0, 1], not {_short(t)}"
    return _files_problem(d["name"], d.get("files"))


ENSEMBLES = "ensembles"  # the manifest's evaluated ensembles (zoo.voting), if any


def member_hashes(variants: dict, members: list[str]) -> dict[str, str]:
    """{path: sha256} of every file of `members`: what an ensemble's figures were
    measured on, so a member trained again makes them stale, not wrong."""
    return {rel: info["sha256"] for m in members for rel, info in variants[m]["files"].items()}


_ENSEMBLE_OPTIONAL = {
    "ece_test": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "validation_accuracy": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "drawn_accuracy": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "experimental": (lambda v: isinstance(v, bool), "true or false"),
    "description": (lambda v: isinstance(v, str), "a string"),
    "views": (lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v)
              and _known_views(v), f"a list of distinct views from {list(VIEWS)}"),
}


def _known_views(names: list[str]) -> bool:
    try:
        check_views(names)
    except ValueError:
        return False
    return True


def ensemble_problem(name: object, e: object, variants: dict) -> str | None:
    """What is wrong with one entry of the "ensembles" section given the zoo's usable
    `variants` (worded to follow "ensemble <name>"), or None."""
    if not is_valid_name(name):
        return "is not a valid ensemble name"
    if not isinstance(e, dict):
        return f"is a {type(e).__name__}, not an object"
    if e.get("name") != name:
        return f"field 'name' is {_short(e.get('name'))}, not its key"
    if name in variants:
        return "has the name of a variant"
    members = e.get("members")
    if not (isinstance(members, list) and len(members) >= 2
            and all(isinstance(m, str) for m in members) and len(set(members)) == len(members)):
        return f"field 'members' must list two or more distinct variants, not {_short(members)}"
    if missing := [m for m in members if m not in variants]:
        return f"member {_short(missing[0])} is not a usable variant of this zoo"
    for key in ("bytes", "test_correct", "test_accuracy"):
        ok, want = _FIELDS[key]
        if not ok(e.get(key)):
            return f"field {key!r} must be {want}, not {_short(e.get(key))}"
    for key, (ok, want) in _ENSEMBLE_OPTIONAL.items():
        if key in e and not ok(e[key]):
            return f"field {key!r} must be {want}, not {_short(e[key])}"
    if e["bytes"] != sum(variants[m]["bytes"] for m in members):
        return "field 'bytes' must be the sum of its members' sizes"
    if e.get("member_sha256") != member_hashes(variants, members):
        return ("was measured on other files than its members' (one was trained again "
                "since); evaluate it again with `python train.py --ensembles`")
    return None


def without_stale_ensembles(manifest: dict) -> dict:
    """`manifest` less every ensemble that does not describe its members as listed (what a
    writer does when it replaces or drops a member: the figures go until re-measured)."""
    section = manifest.get(ENSEMBLES)
    if not isinstance(section, dict):
        return manifest
    fresh = {n: e for n, e in section.items()
             if ensemble_problem(n, e, manifest["variants"]) is None}
    if len(fresh) == len(section):
        return manifest
    out = {**manifest, ENSEMBLES: fresh}
    if not fresh:
        del out[ENSEMBLES]
    return out


def shipped_files(manifest: dict) -> dict[str, dict]:
    """{name: {path: {bytes, sha256}}} of everything the zoo ships: each variant, and the
    detector when there is one."""
    out = {name: e["files"] for name, e in manifest["variants"].items()}
    if DETECTOR in manifest:
        out[manifest[DETECTOR]["name"]] = manifest[DETECTOR]["files"]
    return out


def check_manifest(manifest: object, origin: str) -> tuple[dict, dict[str, str]]:
    """A copy of `manifest` holding only its valid entries, and {name: reason} for the
    others. A manifest that is not one at all (not an object, another format_version, no
    variants, none valid) is a ManifestError that names `origin`."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"{origin} is not a JSON object")
    version = manifest.get("format_version", MANIFEST_FORMAT)
    if version != MANIFEST_FORMAT or isinstance(version, bool):
        raise ManifestError(f"{origin} has format_version {_short(version)}; this code reads "
                            f"{MANIFEST_FORMAT}")
    variants = manifest.get("variants")
    if not isinstance(variants, dict):
        raise ManifestError(f"{origin} has no 'variants' table")
    if not variants:
        raise ManifestError(f"{origin} lists no variants")
    valid, problems = {}, {}
    for name, e in variants.items():
        if problem := entry_problem(name, e):
            problems[name if isinstance(name, str) else repr(name)] = \
                f"{origin}: variant {_short(name)} {problem}"
        else:
            valid[name] = e
    if not valid:
        raise ManifestError(f"{origin}: none of its {len(variants)} variants is usable; "
                            f"{next(iter(problems.values()))}")
    usable = {**manifest, "variants": valid}
    if DETECTOR in manifest and (problem := detector_problem(manifest[DETECTOR])):
        problems[DETECTOR] = f"{origin}: the detector {problem}"
        del usable[DETECTOR]  # the zoo still answers; it just cannot say "not a digit"
    if ENSEMBLES in manifest:
        section = manifest[ENSEMBLES]
        if not isinstance(section, dict):
            problems[ENSEMBLES] = f"{origin}: 'ensembles' is a {type(section).__name__}, " \
                                  "not an object"
            section = {}
        good = {}
        for name, e in section.items():
            if problem := ensemble_problem(name, e, valid):
                problems[name if isinstance(name, str) else repr(name)] = \
                    f"{origin}: ensemble {_short(name)} {problem}"
            else:
                good[name] = e
        usable[ENSEMBLES] = good
    return usable, problems


def validate_manifest(manifest: object, origin: str) -> dict:
    """`manifest`, if every entry has the shape every reader relies on; else a ManifestError
    that names `origin`, the variant and the field (for writers: train.py and a push must
    not drop or publish a bad entry; readers use check_manifest and lose only that one)."""
    _, problems = check_manifest(manifest, origin)
    if problems:
        raise ManifestError(next(iter(problems.values())))
    return manifest
