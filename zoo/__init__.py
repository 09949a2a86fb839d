"""digit-zoo's model zoo: the registry of variants, their artifacts and the manifest.

    import zoo
    zoo.variants("mlp-h128-*")          # what is registered
    model = zoo.load("cnn-c32c64-int8")   # a trained, verified, runnable model
    z = zoo.open("you/digit-zoo")       # or a models folder; None: the shipped zoo
    z.names, z.manifest, z.load("mlp-h128-int4")
    z.load_ensemble("zoo-votes").predict_proba(x)   # the zoo votes (zoo.voting)
    model.predict_proba(x)              # x: (N, 28, 28) floats in [0, 1], white on black
"""

from __future__ import annotations

from pathlib import Path

from zoo import architectures, families, precisions  # noqa: F401  (registers the built-ins)
from zoo.artifacts import ArtifactError
from zoo.manifest import ManifestError
from zoo.registry import (
    Ensemble,
    Precision,
    UnknownVariantError,
    Variant,
    create,
    ensembles,
    get_variant,
    load_plugins,
    register_architecture,
    register_ensemble,
    register_family,
    register_precision,
    variants,
)
from zoo.sources import LocalZoo, UnavailableZoo, Zoo, default_models_dir

__all__ = ["ArtifactError", "Ensemble", "LocalZoo", "ManifestError", "Precision",
           "UnavailableZoo", "UnknownVariantError", "Variant", "Zoo", "create",
           "default_models_dir", "ensembles", "get_variant", "load", "load_plugins", "open",
           "register_architecture", "register_ensemble", "register_family",
           "register_precision", "variants"]

load_plugins()


def load(name: str, repo: str | None = None, revision: str | None = None, *,
         models_dir: str | Path | None = None, **hub_kwargs):
    """A trained, runnable variant, its files checked against the manifest's SHA-256.

    With `repo` ("namespace/name") it comes from that Hugging Face Hub repo at `revision`
    (a branch, tag or commit; default main), downloading only its files, cached; see
    `zoo.hub.open_repo` for `token`, `cache_dir` and `endpoint`. Without, from `models_dir`
    (default: the shipped models/).
    """
    if repo is not None:
        return open(repo, revision, **hub_kwargs).load(name)
    return LocalZoo(models_dir if models_dir is not None else default_models_dir()).load(name)


def open(source: str | Path | None = None, revision: str | None = None,
         **hub_kwargs) -> Zoo:
    """The zoo at `source` (zoo.open, like io.open): None for the shipped models/, a folder,
    or a Hub repo id ("namespace/name", at `revision`; `hub_kwargs` as for
    `zoo.hub.open_repo`)."""
    if source is None:
        return LocalZoo(default_models_dir())
    if isinstance(source, Path) or Path(source).is_dir():
        if revision is not None or hub_kwargs:
            raise ValueError("revision and Hub options are for Hub repos, not folders")
        return LocalZoo(source)
    from zoo import hub  # the Hub client is only imported by those who use it

    if hub.REPO_ID.fullmatch(source):
        return hub.open_repo(source, revision, **hub_kwargs)
    raise ManifestError(f"{source!r} is neither a models folder nor a Hub repo id "
                        "(namespace/name)")
