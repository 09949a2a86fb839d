"""digit-zoo's model zoo: the registry of variants, their artifacts and the manifest.

    import zoo
    zoo.variants("mlp-h128-*")          # what is registered
    model = zoo.load("cnn-c32c64-int8")   # a trained, verified, runnable model
    z = zoo.open("you/digit-zoo")       # or a models folder; None: the shipped zoo
    z.names, z.manifest, z.load("mlp-h128-int4")
    model.predict_proba(x)              # x: (N, 28, 28) floats in [0, 1], white on black
"""

from __future__ import annotations

from pathlib import Path

from zoo import architectures, families, precisions  # noqa: F401  (registers the built-ins)
from zoo.artifacts import ArtifactError
from zoo.manifest import ManifestError
from zoo.registry import (
    Precision,
    UnknownVariantError,
    Variant,
    create,
    get_variant,
    load_plugins,
    register_architecture,
    register_family,
    register_precision,
    variants,
)
from zoo.sources import LocalZoo, default_models_dir
from zoo.sources import open_zoo as open  # zoo.open, like io.open

__all__ = ["ArtifactError", "LocalZoo", "ManifestError", "Precision", "UnknownVariantError",
           "Variant", "create", "default_models_dir", "get_variant", "load", "load_plugins",
           "open", "register_architecture", "register_family", "register_precision",
           "variants"]

load_plugins()


def load(name: str, repo: str | None = None, revision: str | None = None, *,
         models_dir: str | Path | None = None, **hub_kwargs):
    """A trained, runnable variant, its files checked against the manifest's SHA-256.

    With `repo` ("namespace/name") it comes from that Hugging Face Hub repo at `revision`
    (a branch, tag or commit; default main), downloading only its files, cached; see
    `zoo.hub.open_zoo` for `token`, `cache_dir` and `endpoint`. Without, from `models_dir`
    (default: the shipped models/).
    """
    if repo is not None:
        return open(repo, revision, **hub_kwargs).load(name)
    return LocalZoo(models_dir if models_dir is not None else default_models_dir()).load(name)
