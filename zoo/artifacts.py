"""A variant on disk: `variants/<name>/model.safetensors` and `config.json`.

safetensors holds only raw tensors, so loading runs no code (no pickle). Every file is
checked against the SHA-256 the manifest recorded before a byte of it is parsed, and
the bytes that were hashed are the bytes that are parsed.

A loader fails alone, fast and by name: paths stay inside the models folder (no `..`, no
symlink out), sizes are checked with stat before a file is read, the safetensors header is
bounded, NaN or infinite weights are refused, and whatever goes wrong is an ArtifactError
naming the variant and the file.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from engine.atomic import atomic_write
from engine.files import FileSizeError, read_limited
from engine.model import Model
from zoo.registry import (
    PRECISIONS,
    UnknownVariantError,
    Variant,
    family,
    get_variant,
    is_valid_name,
)

# 2: config.json names the family and its model config. 1 (the first MLP zoo) had only
# `sizes`: such a file is an MLP, and still loads.
ARTIFACT_FORMAT = 2
READABLE_FORMATS = (1, 2)
WEIGHTS, CONFIG = "model.safetensors", "config.json"
# Far above any digit model (the largest shipped file is 4.3 MB), far below what would
# hurt a server: a manifest cannot make a loader read or hash more than this.
MAX_WEIGHTS_BYTES = 256 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
# A digit model's header lists a few dozen tensors in a few KB; parsing a 95 MB one takes
# half a minute.
MAX_HEADER_BYTES = 1024 * 1024
# What decoding may build, whatever the precision: int4 weights expand eightfold in memory,
# so a file's size alone does not bound it. 16x the largest shipped variant.
MAX_PARAMS = 16 * 1024 * 1024


class ArtifactError(RuntimeError):
    """A variant's files are missing, corrupt, tampered with or inconsistent."""


def variant_files(name: str) -> list[str]:
    """Paths of a variant's files, relative to the models folder (POSIX, as on the Hub)."""
    if not is_valid_name(name):  # "../../x" would name a folder outside the zoo
        raise ArtifactError(f"{name!r} is not a valid variant name")
    return [f"variants/{name}/{WEIGHTS}", f"variants/{name}/{CONFIG}"]


def file_limit(rel: str) -> int:
    """The most bytes a variant file may hold."""
    return MAX_CONFIG_BYTES if rel.endswith(CONFIG) else MAX_WEIGHTS_BYTES


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_variant(variant: Variant, model: Model) -> dict[str, bytes]:
    """The bytes of each of the variant's files, keyed by relative path."""
    tensors, precision_config = variant.precision.encode(model.folded())
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    a = variant.architecture
    config = {"format_version": ARTIFACT_FORMAT, "name": variant.name,
              "architecture": a.name, "family": a.family, "model_config": a.config,
              "precision": variant.precision.name, "precision_config": precision_config}
    # One metadata key only: safetensors writes metadata from a hash map, so two keys come
    # out in either order and the same weights would hash differently from run to run.
    weights = st_save(tensors, metadata={"digit-zoo": variant.name})
    files = variant_files(variant.name)
    # Compact: a variant's size counts every byte it ships, and at 2 bits indented JSON
    # was a tenth of the smallest.
    return {files[0]: weights,
            files[1]: json.dumps(config, separators=(",", ":")).encode() + b"\n"}


def save_variant(models_dir: str | Path, variant: Variant, model: Model) -> dict[str, dict]:
    """Write the variant's files atomically; return {path: {"bytes", "sha256"}}."""
    info = {}
    for rel, data in encode_variant(variant, model).items():
        atomic_write(Path(models_dir) / rel, data)
        info[rel] = {"bytes": len(data), "sha256": sha256(data)}
    return info


def mismatch(data: bytes, expected: dict) -> str | None:
    """How `data` differs from a manifest file entry {"bytes", "sha256"}, or None."""
    digest = sha256(data)
    if len(data) == expected["bytes"] and digest == expected["sha256"]:
        return None
    return (f"{len(data)} bytes, SHA-256 {digest[:12]}..., expected {expected['bytes']} bytes, "
            f"{expected['sha256'][:12]}...")


def _inside(root: Path, path: Path, label: str) -> Path:
    """`path` with every symlink resolved, if that is still inside `root`."""
    try:
        resolved, top = path.resolve(), root.resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise ArtifactError(f"{label}: {path} cannot be resolved ({e})") from e
    if not resolved.is_relative_to(top):
        raise ArtifactError(f"{label}: {path} leads outside the models folder (to {resolved}); "
                            "refused")
    return resolved


def read_verified(path: Path, expected: dict | None, label: str,
                  root: Path | None = None) -> bytes:
    """The file's bytes, if they match the manifest entry `expected` {"bytes", "sha256"}.

    Its size is compared (with stat, on the open file) before any of it is read; with
    `root`, the path must stay inside that folder once symlinks are resolved."""
    real = _inside(root, path, label) if root is not None else path
    try:
        data = read_limited(real, file_limit(path.name),
                            exact=expected["bytes"] if expected is not None else None)
    except FileNotFoundError:
        raise ArtifactError(f"{label}: {path} is missing") from None
    except FileSizeError as e:
        raise ArtifactError(f"{label}: {e}; it does not match the manifest: modified or "
                            "truncated. Re-run train.py or fetch the zoo again.") from None
    except OSError as e:
        raise ArtifactError(f"{label}: cannot read {path}: {e.strerror or e}") from e
    if expected is not None and (problem := mismatch(data, expected)):
        raise ArtifactError(f"{label}: {path} does not match the manifest ({problem}); it was "
                            "modified or truncated. Re-run train.py or fetch the zoo again.")
    return data


def _model_spec(name: str, config: dict) -> tuple[str, dict]:
    """The family and model config a config.json describes, checked against the registry
    when the variant is registered here (a Hub zoo may hold variants this copy lacks)."""
    if config.get("format_version") not in READABLE_FORMATS:
        raise ValueError(f"format {config.get('format_version')!r} is not one of "
                         f"{READABLE_FORMATS}; a newer digit-zoo wrote it")
    if config.get("name") != name:
        raise ValueError(f"config describes {config.get('name')!r}")
    if config["format_version"] == 1:
        family_name, model_config = "mlp", {"sizes": config["sizes"]}
    else:
        family_name, model_config = config["family"], config["model_config"]
    try:
        a = get_variant(name).architecture
    except UnknownVariantError:
        return family_name, model_config
    if (family_name, model_config) != (a.family, a.config):
        raise ValueError(f"its {family_name} {model_config} differs from the registered "
                         f"{a.family} {a.config}")
    return family_name, model_config


def _tensors(weights: bytes) -> dict[str, np.ndarray]:
    """The file's tensors, once its header is known to be small and every value finite."""
    if len(weights) < 8:
        raise ValueError(f"{len(weights)} bytes is too short for a safetensors file")
    header = int.from_bytes(weights[:8], "little")
    if header > MAX_HEADER_BYTES:
        raise ValueError(f"its header declares {header} bytes, more than the "
                         f"{MAX_HEADER_BYTES} a model's tensor list needs")
    if 8 + header > len(weights):
        raise ValueError(f"its header declares {header} bytes but the file has "
                         f"{len(weights) - 8} after the length")
    tensors = st_load(weights)
    for key, t in tensors.items():
        if t.dtype.kind in "fc" and not np.isfinite(t).all():
            raise ValueError(f"tensor {key!r} holds NaN or infinite values")
    return tensors


def _config(config_bytes: bytes) -> dict:
    try:
        config = json.loads(config_bytes)
    except RecursionError:
        raise ValueError("it nests too deeply") from None
    if not isinstance(config, dict):
        raise ValueError("it is not a JSON object")
    return config


def _probe(model: Model) -> None:
    """One forward pass on a blank and a full canvas: weights that are finite can still
    overflow to NaN probabilities, which are not even valid JSON."""
    x = np.stack([np.zeros((28, 28)), np.ones((28, 28))])
    with np.errstate(all="ignore"):  # the overflow is reported below, by name
        probs = model.predict_proba(x)
    classes = model.shapes(model.config())[f"{model.classifier}.bias"][0]
    if probs.shape != (2, classes) or not np.isfinite(probs).all():
        raise ValueError(f"it answers a test input with {probs.shape} non-finite or misshaped "
                         "probabilities")


def decode_variant(name: str, weights: bytes, config_bytes: bytes) -> Model:
    """Build the runnable model from verified file contents."""
    weights_rel, config_rel = variant_files(name)
    step = config_rel
    try:  # anything from here on (a plugin family's code included) fails as this variant's
        config = _config(config_bytes)
        family_name, model_config = _model_spec(name, config)
        model_class = family(family_name)
        if config.get("precision") not in PRECISIONS:
            raise ValueError(f"unknown precision {config.get('precision')!r}")
        precision_config = config.get("precision_config") or {}
        if not isinstance(precision_config, dict):
            raise ValueError("precision_config is not an object")
        shapes = model_class.shapes(model_config)
        if (params := sum(math.prod(s) for s in shapes.values())) > MAX_PARAMS:
            raise ValueError(f"its model has {params} parameters, more than the {MAX_PARAMS} "
                             "a variant may have")
        step = weights_rel
        tensors = _tensors(weights)
        step = f"{weights_rel} as {config_rel} describes it"
        state = PRECISIONS[config["precision"]].decode(tensors, precision_config, shapes)
        model = model_class.from_state_dict(model_config, state)
        _probe(model)
        model.freeze()  # an artifact is for inference: its weights stay as shipped
    except Exception as e:  # MemoryError, RecursionError, ZeroDivisionError... too
        if isinstance(e, KeyError):
            detail = f"no {e} in it"
        elif isinstance(e, ValueError | SafetensorError) and str(e):
            detail = str(e)
        else:
            detail = f"{e.__class__.__name__}: {e}"
        raise ArtifactError(f"{name}: cannot decode {step}: {detail}") from e
    model.name, model.meta = name, config
    return model


def load_files(name: str, files: dict[str, dict] | None,
               fetch: Callable[[str, dict | None], bytes]) -> Model:
    """Fetch a variant's two files through `fetch(path, manifest entry)` and decode them.

    `fetch` verifies what it returns against the entry; local folders and the Hub differ
    only in where the bytes come from.
    """
    weights_rel, config_rel = variant_files(name)
    get = (files or {}).get
    if files is not None and (missing := [r for r in (weights_rel, config_rel) if not get(r)]):
        raise ArtifactError(f"{name}: the manifest lists no hash for {' or '.join(missing)}; "
                            "it is not loaded unchecked")
    return decode_variant(name, fetch(weights_rel, get(weights_rel)),
                          fetch(config_rel, get(config_rel)))


def load_variant(models_dir: str | Path, name: str, files: dict[str, dict] | None) -> Model:
    """Load a variant from `models_dir`, checking each file against `files` (manifest)."""
    root = Path(models_dir)
    return load_files(name, files,
                      lambda rel, expected: read_verified(root / rel, expected, name, root))
