"""Deploy the app as a Hugging Face Space, in one command, with the Hub's own client.

    python -m zoo.hub.space you/digit-zoo                          # app + the shipped zoo
    python -m zoo.hub.space you/digit-zoo --models-repo you/digit-zoo   # app; zoo from the Hub

The Space gets exactly what it runs: app.py, engine/, zoo/, webapp/, requirements.txt,
README.md (whose front matter configures the Space) and, unless it serves a published model
repo, models/: the manifest and every file it lists, the variants' and the not-a-digit
detector's, so that the Space answers as `python app.py` does, letters included. Tests,
benchmarks, CI files, virtualenvs and caches stay behind. It all goes in one `upload_folder`
commit, which sends the safetensors through the Hub's Xet/LFS storage by itself (a `git
push` of them as plain blobs is refused) and replaces whatever the Space held before; files
the Space no longer needs are deleted in the same commit, and an unchanged deploy makes no
commit. The token comes from HF_TOKEN or `hf auth login` and is never printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, metadata_load, metadata_save
from huggingface_hub.errors import HfHubHTTPError

from zoo.hub.client import UNREACHABLE, need_token, translate
from zoo.hub.errors import HubError
from zoo.hub.publish import check_complete
from zoo.hub.pull import open_repo
from zoo.manifest import MANIFEST, ManifestError, shipped_files

RUNTIME = ("app.py", "requirements.txt")  # besides README.md, the packages and models/
PACKAGES = ("engine", "zoo", "webapp")
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".gradio"}
TOKEN_SECRET = "HF_TOKEN"  # huggingface_hub reads it in the Space: zoo.load needs nothing


@dataclass(frozen=True)
class DeployResult:
    space_id: str
    url: str  # the Space's page on the Hub
    commit: str
    changed: bool  # False: the Space already held exactly these files
    files: list[str]
    variables: dict[str, str] = field(default_factory=dict)  # set by this deploy
    removed_variables: list[str] = field(default_factory=list)


def space_files(root: str | Path, *, with_models: bool = True) -> dict[str, Path]:
    """What the Space runs, as {path in the Space: local file}; README.md comes separately.

    models/ is the manifest and exactly the files it lists, the not-a-digit detector's as
    well as the variants' (without them the Space would answer letters as digits), after
    checking them against their SHA-256, so a half-trained or stray file never ships.
    """
    root = Path(root)
    files = {name: root / name for name in RUNTIME}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not SKIP_PARTS & set(rel.parts) and path.suffix != ".pyc" \
                    and not any(p.startswith(".") for p in rel.parts):
                files[rel.as_posix()] = path
    if with_models:
        manifest = check_complete(root / "models")
        files[f"models/{MANIFEST}"] = root / "models" / MANIFEST
        for listed in shipped_files(manifest).values():
            for rel in listed:
                files[f"models/{rel}"] = root / "models" / rel
    missing = [rel for rel, path in files.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{root} lacks what the Space runs: {', '.join(missing)}")
    return files


def space_readme(readme: str | Path, dest: str | Path, models_repo: str | None) -> dict:
    """Write the Space's README.md to `dest`: the project's, with `models:` in its front
    matter naming the model repo the Space serves (the Hub links the two), or none."""
    shutil.copyfile(readme, dest)
    meta = metadata_load(dest)
    if not meta or meta.get("sdk") != "gradio" or not meta.get("app_file"):
        raise ValueError(f"{readme} has no Space front matter (sdk: gradio, app_file)")
    meta.pop("models", None)
    if models_repo:
        meta["models"] = [models_repo]
    metadata_save(dest, meta)
    return meta


def deploy(space_id: str, root: str | Path = ".", *, models_repo: str | None = None,
           models_revision: str | None = None, models_token: str | None = None,
           private: bool | None = None, token: str | None = None,
           commit_message: str | None = None, endpoint: str | None = None) -> DeployResult:
    """Create the Space if needed and make it hold, and run, this project.

    `models_repo` must be readable, with a valid manifest, before anything is deployed.
    `models_repo` makes the Space serve that published zoo (Space variable ZOO_REPO, and
    ZOO_REVISION with `models_revision`) instead of shipping models/; `models_token` is
    stored as the Space secret HF_TOKEN, for a private model repo. Without `models_repo`,
    ZOO_REPO and ZOO_REVISION are removed from the Space, so it serves what it ships.
    """
    root = Path(root)
    token = need_token(token)
    api = HfApi(endpoint=endpoint, token=token)
    if models_repo:  # a typo would only show as the Space's fallback notice, after deploying
        open_repo(models_repo, models_revision, token=models_token or token, endpoint=endpoint)
    wanted = {"ZOO_REPO": models_repo, "ZOO_REVISION": models_revision if models_repo else None}
    files = space_files(root, with_models=models_repo is None)
    try:
        url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", exist_ok=True,
                              private=private)
        with tempfile.TemporaryDirectory(prefix="digit-zoo-space-") as tmp:
            stage = Path(tmp)
            for rel, path in files.items():
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, stage / rel)
            space_readme(root / "README.md", stage / "README.md", models_repo)
            before = api.repo_info(space_id, repo_type="space").sha
            # delete_patterns="*": what the Space held and this deploy does not upload goes,
            # in the same commit (the client always keeps .gitattributes).
            info = api.upload_folder(
                repo_id=space_id, repo_type="space", folder_path=stage,
                delete_patterns="*",
                commit_message=commit_message or f"Deploy digit-zoo ({len(files) + 1} files)")
        current = {k: v.value for k, v in api.get_space_variables(space_id).items()}
        changed_vars = {k: v for k, v in wanted.items() if v and current.get(k) != v}
        for key, value in changed_vars.items():
            api.add_space_variable(space_id, key, value,
                                   description="digit-zoo: the model repo (and revision) served")
        removed = [k for k, v in wanted.items() if not v and k in current]
        for key in removed:
            api.delete_space_variable(space_id, key)
        if models_token:
            api.add_space_secret(space_id, TOKEN_SECRET, models_token,
                                 description="digit-zoo: reads the private model repo")
    except (HfHubHTTPError, *UNREACHABLE) as e:
        raise translate(e, space_id, None) from e
    return DeployResult(space_id, str(url), info.oid, info.oid != before,
                        sorted([*files, "README.md"]), changed_vars, removed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zoo.hub.space", description=__doc__.splitlines()[0],
        epilog="The token comes from HF_TOKEN or `hf auth login`; it is never printed.")
    parser.add_argument("space", metavar="NAMESPACE/NAME", help="the Space to create or update")
    parser.add_argument("--models-repo", metavar="NAMESPACE/NAME",
                        help="serve this published zoo (Space variable ZOO_REPO) instead of "
                             "uploading models/")
    parser.add_argument("--models-revision", metavar="REV",
                        help="with --models-repo: the branch or commit to serve (ZOO_REVISION)")
    parser.add_argument("--models-token", action="store_true",
                        help="with --models-repo, for a private model repo: store a token as "
                             "the Space secret HF_TOKEN, from ZOO_MODELS_TOKEN (recommended: a "
                             "read-only token) or else the deploying token")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    parser.add_argument("--message", metavar="TEXT", help="commit message")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the project folder to deploy (default: the current directory)")
    args = parser.parse_args(argv)
    if (args.models_revision or args.models_token) and not args.models_repo:
        parser.error("--models-revision and --models-token need --models-repo")
    try:
        token = need_token()
        secret = (os.environ.get("ZOO_MODELS_TOKEN") or token) if args.models_token else None
        result = deploy(args.space, root=args.root, models_repo=args.models_repo,
                        models_revision=args.models_revision, models_token=secret,
                        private=args.private or None, token=token,
                        commit_message=args.message)
    except (HubError, ManifestError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if result.changed:
        print(f"deployed {len(result.files)} files to {result.space_id} in commit "
              f"{result.commit[:12]}")
    else:
        print(f"nothing to deploy: {result.space_id} already runs this ({result.commit[:12]})")
    for key, value in result.variables.items():
        print(f"set Space variable {key}={value}")
    for key in result.removed_variables:
        print(f"removed Space variable {key}")
    if args.models_token:
        print(f"stored the Space secret {TOKEN_SECRET} (value not shown)")
    print(result.url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
