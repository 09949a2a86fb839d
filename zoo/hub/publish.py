"""Publishing a zoo on the Hub: the whole models folder in one commit.

One repository holds `manifest.json`, the files it lists (`variants/<name>/...` and the
not-a-digit detector's) and a model card, all in one commit, so one revision pins the whole
zoo and a failed push changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import disable_progress_bars

from zoo.artifacts import ArtifactError, read_verified
from zoo.card import build_card
from zoo.hub.client import (
    UNREACHABLE,
    bounded,
    check_repo_id,
    need_token,
    open_deadline,
    translate,
)
from zoo.hub.errors import HubAuthError, HubError
from zoo.manifest import MANIFEST, ManifestError, read_manifest, shipped_files


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    commit: str
    url: str
    changed: bool


def check_complete(models_dir: str | Path) -> dict:
    """The manifest of `models_dir`, if every file it lists is there with its hash."""
    models_dir = Path(models_dir)
    manifest = read_manifest(models_dir)
    problems = []
    for name, files in shipped_files(manifest).items():  # the schema checked each's two
        for rel, info in files.items():
            try:
                read_verified(models_dir / rel, info, name, models_dir)
            except ArtifactError as err:
                problems.append(str(err))
    if problems:
        raise ManifestError(f"{models_dir} is not complete and consistent; nothing was "
                            "pushed:\n  " + "\n  ".join(problems))
    return manifest


def check_push_access(repo_id: str, *, token: str | None = None,
                      endpoint: str | None = None) -> str:
    """The user a push to `repo_id` would act as, once the repo id is valid and the token is
    accepted and may write there. Checked before training, so a long run does not end in a
    refused push."""
    check_repo_id(repo_id)
    api = HfApi(endpoint=endpoint, token=need_token(token))
    try:
        me = bounded(api.whoami, open_deadline(), f"checking the token for {repo_id}")
        user = me["name"]
        namespaces = {user} | {o["name"] for o in me.get("orgs") or []}
        role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    except (HfHubHTTPError, *UNREACHABLE) as e:
        raise translate(e, repo_id, None) from e
    except (KeyError, TypeError, AttributeError) as e:
        raise HubError(f"the Hub's answer to whoami could not be read ({e!r})") from e
    if role == "read":
        raise HubAuthError(f"the token of {user} is read-only; a push to {repo_id} needs a "
                           "write token")
    namespace = repo_id.split("/")[0]
    if namespace not in namespaces:
        raise HubAuthError(f"the token belongs to {user}, who cannot write to {namespace}/ "
                           f"(their namespaces: {', '.join(sorted(namespaces))})")
    return user


@contextlib.contextmanager
def _quiet_client(progress: bool) -> Iterator[None]:
    """The client's progress bars off unless `progress`, and its warning about an unchanged
    zoo silenced: PushResult.changed says it, and the caller words it."""
    logger = logging.getLogger("huggingface_hub.hf_api")  # create_commit's

    def not_empty_commit(record: logging.LogRecord) -> bool:
        return "Skipping to prevent empty commit" not in record.getMessage()

    logger.addFilter(not_empty_commit)
    try:
        with contextlib.nullcontext() if progress else disable_progress_bars():
            yield
    finally:
        logger.removeFilter(not_empty_commit)


def push(models_dir: str | Path, repo_id: str, *, token: str | None = None,
         private: bool = False, revision: str | None = None,
         commit_message: str | None = None, endpoint: str | None = None,
         progress: bool = True) -> PushResult:
    """Publish `models_dir` to `repo_id` in one commit; an unchanged zoo makes no commit.
    `progress=False` hides the upload's progress bars."""
    models_dir = Path(models_dir)
    manifest = check_complete(models_dir)
    api = HfApi(endpoint=endpoint, token=need_token(token))
    branch = revision or "main"
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch != "main":
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        head = api.model_info(repo_id, revision=branch).sha
        shipped = shipped_files(manifest)
        local = {MANIFEST, "README.md"} | {rel for files in shipped.values() for rel in files}
        stale = [f for f in api.list_repo_files(repo_id, revision=branch)
                 if f.startswith("variants/") and f not in local]
        card = build_card(manifest, repo_id)
        ops = [CommitOperationAdd(rel, str(models_dir / rel))
               for files in shipped.values() for rel in files]
        ops += [CommitOperationAdd(MANIFEST, str(models_dir / MANIFEST)),
                CommitOperationAdd("README.md", str(card).encode()),
                *(CommitOperationDelete(f) for f in stale)]
        message = commit_message or f"Publish {len(manifest['variants'])} digit-zoo variants"
        with _quiet_client(progress):
            info = api.create_commit(repo_id, ops, commit_message=message, revision=branch,
                                     parent_commit=head)
    except (HfHubHTTPError, *UNREACHABLE) as e:
        raise translate(e, repo_id, branch) from e
    return PushResult(repo_id, info.oid, info.commit_url, info.oid != head)


def announce_access(repo_id: str) -> bool:
    """Whether the token may push to `repo_id`, said in one line: train.py asks before it
    trains, so that a refused push never comes after an hour of training."""
    try:
        user = check_push_access(repo_id)
    except HubError as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    print(f"will publish to {repo_id} as {user}")
    return True


def push_and_report(models_dir: Path, repo_id: str, *, private: bool = False,
                    revision: str | None = None, message: str | None = None,
                    progress: bool = True) -> int:
    """`push`, said in a line or two for a command line; the exit status."""
    try:
        result = push(models_dir, repo_id, private=private, revision=revision,
                      commit_message=message, progress=progress)
    except HubError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if result.changed:
        print(f"published {models_dir} to {result.repo_id}: commit {result.commit}\n{result.url}")
    else:
        print(f"{result.repo_id} already holds this zoo (commit {result.commit}); "
              "nothing to publish")
    return 0
