"""digit-zoo's model zoo: the registry of variants, their artifacts and the manifest.

    import zoo
    zoo.variants("mlp-h128-*")          # what is registered
    model = zoo.load("mlp-h128-int8")   # a trained, verified, runnable model
    model = zoo.load("mlp-h128-int8", repo="you/digit-zoo", revision="main")  # from the Hub
    model.predict_proba(x)              # x: (N, 784) floats in [0, 1]
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo import architectures, precisions  # noqa: F401  (registers the built-in zoo)
from zoo.artifacts import ArtifactError, load_variant
from zoo.manifest import ManifestError, entry, read_manifest
from zoo.registry import (
    Precision,
    UnknownVariantError,
    Variant,
    create,
    get_variant,
    load_plugins,
    register_architecture,
    register_precision,
    variants,
)

__all__ = ["ArtifactError", "ManifestError", "Precision", "UnknownVariantError", "Variant",
           "create", "default_models_dir", "get_variant", "load", "load_plugins",
           "register_architecture", "register_precision", "variants"]

load_plugins()


def default_models_dir() -> Path:
    """The shipped `models/` beside this package, unless ZOO_MODELS_DIR says otherwise."""
    return Path(os.environ.get("ZOO_MODELS_DIR") or Path(__file__).resolve().parent.parent
                / "models")


def load(name: str, repo: str | None = None, revision: str | None = None, *,
         models_dir: str | Path | None = None, **hub_kwargs):
    """A trained, runnable variant, its files checked against the manifest's SHA-256.

    With `repo` ("namespace/name") it comes from that Hugging Face Hub repo at `revision`
    (a branch, tag or commit; default main), downloading only its files, cached; see
    `zoo.hub.open_zoo` for `token`, `cache_dir` and `endpoint`. Without, from `models_dir`
    (default: the shipped models/).
    """
    if repo is not None:
        from zoo import hub  # the Hub client is only imported by those who use it

        return hub.load(name, repo, revision, **hub_kwargs)
    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    manifest = read_manifest(models_dir)
    return load_variant(models_dir, name, entry(manifest, name).get("files"))
