"""A variant on disk: `variants/<name>/model.safetensors` and `config.json`.

safetensors holds only raw tensors, so loading runs no code (no pickle). Every file is
checked against the SHA-256 the manifest recorded before a byte of it is parsed, and
the bytes that were hashed are the bytes that are parsed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from engine.atomic import atomic_write
from engine.model import Model
from zoo.registry import PRECISIONS, UnknownVariantError, Variant, family, get_variant

# 2: config.json names the family and its model config. 1 (the first MLP zoo) had only
# `sizes`: such a file is an MLP, and still loads.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
WEIGHTS, CONFIG = "model.safetensors", "config.json"


class ArtifactError(RuntimeError):
    """A variant's files are missing, corrupt, tampered with or inconsistent."""


def variant_files(name: str) -> list[str]:
    """Paths of a variant's files, relative to the models folder (POSIX, as on the Hub)."""
    return [f"variants/{name}/{WEIGHTS}", f"variants/{name}/{CONFIG}"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_variant(variant: Variant, model: Model) -> dict[str, bytes]:
    """The bytes of each of the variant's files, keyed by relative path."""
    tensors, precision_config = variant.precision.encode(model)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    a = variant.architecture
    config = {"format_version": FORMAT_VERSION, "name": variant.name,
              "architecture": a.name, "family": a.family, "model_config": a.config,
              "precision": variant.precision.name, "precision_config": precision_config}
    # One metadata key only: safetensors writes metadata from a hash map, so two keys come
    # out in either order and the same weights would hash differently from run to run.
    weights = st_save(tensors, metadata={"digit-zoo": variant.name})
    files = variant_files(variant.name)
    return {files[0]: weights, files[1]: json.dumps(config, indent=2).encode() + b"\n"}


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


def read_verified(path: Path, expected: dict | None, label: str) -> bytes:
    if not path.is_file():
        raise ArtifactError(f"{label}: {path} is missing")
    data = path.read_bytes()
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


def decode_variant(name: str, weights: bytes, config_bytes: bytes) -> Model:
    """Build the runnable model from verified file contents."""
    try:
        config = json.loads(config_bytes)
        if not isinstance(config, dict):
            raise ValueError("config.json is not an object")
        family_name, model_config = _model_spec(name, config)
        model_class = family(family_name)
        if config["precision"] not in PRECISIONS:
            raise ValueError(f"unknown precision {config['precision']!r}")
        precision_config = config.get("precision_config") or {}
        if not isinstance(precision_config, dict):
            raise ValueError("precision_config is not an object")
        state = PRECISIONS[config["precision"]].decode(
            st_load(weights), precision_config, model_class.shapes(model_config))
        model = model_class.from_state_dict(model_config, state)
    except (ValueError, KeyError, TypeError, SafetensorError) as e:
        raise ArtifactError(f"{name}: cannot decode its files: {e}") from e
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
    if files is not None and (get(weights_rel) is None or get(config_rel) is None):
        raise ArtifactError(f"{name}: the manifest lists no files for it")
    return decode_variant(name, fetch(weights_rel, get(weights_rel)),
                          fetch(config_rel, get(config_rel)))


def load_variant(models_dir: str | Path, name: str, files: dict[str, dict] | None) -> Model:
    """Load a variant from `models_dir`, checking each file against `files` (manifest)."""
    return load_files(name, files,
                      lambda rel, expected: read_verified(Path(models_dir) / rel, expected, name))
