"""The zoo on the Hugging Face Hub: publish it in one commit, fetch one variant at a time.

One repository holds `manifest.json`, `variants/<name>/{model.safetensors, config.json}` and
a model card, all in one commit, so one revision pins the whole zoo and a failed push
changes nothing. Fetching resolves the revision to a commit first, then downloads the
manifest and only the asked-for variant's files at that commit (cached by
huggingface_hub), and checks them against the manifest's SHA-256 before parsing.

What the Hub sends is untrusted: the manifest passes the schema check in zoo.manifest (an
invalid entry makes that variant unavailable, with its reason), sizes are compared with
what the Hub declares before a body is downloaded and with stat before it is read, every
request has a timeout (ZOO_HUB_TIMEOUT) and opening the zoo a deadline (1.4 times
that: 14 s by default), and an answer the client cannot read is a HubError, so the app falls back to
its shipped zoo instead of failing to start.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    get_hf_file_metadata,
    get_token,
    hf_hub_download,
    hf_hub_url,
    try_to_load_from_cache,
)
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import HFValidationError, validate_repo_id

from engine.files import FileSizeError, read_limited
from engine.model import Model
from zoo.artifacts import ArtifactError, file_limit, load_files, mismatch, read_verified
from zoo.card import build_card
from zoo.manifest import (
    DETECTOR,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    ManifestError,
    entry,
    parse_usable,
    read_manifest,
    shipped_files,
)
from zoo.sources import REPO_ID

log = logging.getLogger("digit_zoo.hub")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_UNREACHABLE = (httpx2.TransportError, OfflineModeIsEnabled, ConnectionError, TimeoutError)
# hf_xet reports a failed token request as a ConnectionError naming this endpoint.
_XET_TOKEN = re.compile(r"xet-(?:read|write)-token")
_XET_STATUS = re.compile(r"\((\d{3}) [^)]*\)")


def hub_timeout() -> float:
    """Seconds any one Hub request may take before the zoo gives up on it (ZOO_HUB_TIMEOUT).

    The app opens the zoo at start: a Hub that accepts connections and never answers must
    cost it this, then the shipped zoo, never a hung start. Body downloads are bounded per
    read by huggingface_hub's own HF_HUB_DOWNLOAD_TIMEOUT.
    """
    try:
        return max(0.1, float(os.environ.get("ZOO_HUB_TIMEOUT") or 10))
    except ValueError:
        return 10.0


def open_deadline() -> float:
    """Seconds opening a Hub zoo may take in all (14 by default, so the app starts within
    15 s): per-request timeouts bound each wait for a byte, not a server that sends one
    every few seconds. Measured on a silent socket, the client's 10 s read timeout itself
    took 13 s, which is why this is not simply that timeout plus nothing."""
    return 1.4 * hub_timeout()


def _bounded(call: Callable, seconds: float, what: str):
    """`call()`, or HubUnreachableError after `seconds`. The call runs in a daemon thread
    that is left to its own timeouts if it overruns: the client offers no way to cancel a
    request, and a caller that waits for ever is what this prevents."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as e:  # handed to the caller below
            box["error"] = e

    worker = threading.Thread(target=run, daemon=True, name=f"digit-zoo: {what}")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise HubUnreachableError(f"{what}: the Hub did not answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


class HubError(RuntimeError):
    """Something between the zoo and the Hub failed; the message names the repo and cause."""


class HubAuthError(HubError):
    """No token, a rejected token (401), or a token without permission (403)."""


class HubNotFoundError(HubError):
    """The repo or revision does not exist (or is private and the token cannot see it)."""


class VariantNotFoundError(HubError):
    """The repo's manifest has no such variant."""


class HubUnreachableError(HubError):
    """The Hub could not be reached and nothing usable was cached."""


def repo_from_env() -> tuple[str | None, str | None]:
    """The repo and revision configured by ZOO_REPO and ZOO_REVISION, if any."""
    return os.environ.get("ZOO_REPO") or None, os.environ.get("ZOO_REVISION") or None


def _translate(e: Exception, repo_id: str, revision: str | None) -> HubError:
    where = f"{repo_id}@{revision or 'main'}"
    if isinstance(e, ConnectionError) and _XET_TOKEN.search(str(e)):
        # The Hub answered, but not with a Xet token: saying "cannot reach the Hub" would
        # send the user after their network instead.
        status = _XET_STATUS.search(str(e))
        return HubError(f"{where}: the Hub's Xet token endpoint failed"
                        f"{f' ({status.group(1)})' if status else ''}, so binary files could "
                        "not be uploaded through Xet. On a Hub or proxy without Xet storage, "
                        f"set HF_HUB_DISABLE_XET=1 to upload them through plain LFS. ({e})")
    if isinstance(e, RevisionNotFoundError):
        return HubNotFoundError(f"{repo_id} has no revision {revision!r}")
    if isinstance(e, (RepositoryNotFoundError, GatedRepoError)):
        return HubNotFoundError(f"repository {repo_id} not found (or it is private and no "
                                "token that can read it was given)")
    if isinstance(e, HfHubHTTPError) and e.response is not None:
        status = e.response.status_code
        if status == 401:
            return HubAuthError(f"{where}: the token was rejected (401); check HF_TOKEN or run "
                                "`hf auth login`")
        if status == 403:
            return HubAuthError(f"{where}: the token lacks permission for this (403)")
        if status >= 500:
            return HubUnreachableError(f"{where}: the Hub answered {status}")
    if isinstance(e, _UNREACHABLE):
        return HubUnreachableError(f"cannot reach the Hub for {where}: {e}")
    return HubError(f"{where}: {e}")


# --- push --------------------------------------------------------------------------------
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
    try:
        if not REPO_ID.fullmatch(repo_id):
            raise HFValidationError("expected namespace/name")
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise HubError(f"{repo_id!r} is not a Hub repo id ({e})") from None
    token = token or get_token()
    if not token:
        raise HubAuthError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(endpoint=endpoint, token=token)
    try:
        me = _bounded(api.whoami, open_deadline(), f"checking the token for {repo_id}")
        user = me["name"]
        namespaces = {user} | {o["name"] for o in me.get("orgs") or []}
        role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    except (HfHubHTTPError, *_UNREACHABLE) as e:
        raise _translate(e, repo_id, None) from e
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


def push(models_dir: str | Path, repo_id: str, *, token: str | None = None,
         private: bool = False, revision: str | None = None,
         commit_message: str | None = None, endpoint: str | None = None) -> PushResult:
    """Publish `models_dir` to `repo_id` in one commit; an unchanged zoo makes no commit."""
    models_dir = Path(models_dir)
    manifest = check_complete(models_dir)
    token = token or get_token()
    if not token:
        raise HubAuthError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(endpoint=endpoint, token=token)
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
        info = api.create_commit(repo_id, ops, commit_message=message, revision=branch,
                                 parent_commit=head)
    except (HfHubHTTPError, *_UNREACHABLE) as e:
        raise _translate(e, repo_id, branch) from e
    return PushResult(repo_id, info.oid, info.commit_url, info.oid != head)


# --- pull --------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubZoo:
    """A repo's manifest at one resolved commit (or at the cached ref, offline)."""

    repo_id: str
    revision: str  # a commit sha online; the asked-for ref when working from the cache
    manifest: dict
    offline: bool
    cache_dir: str | None
    token: str | None = field(repr=False)  # a secret: never in a repr, a log or a page
    endpoint: str | None
    problems: dict[str, str] = field(default_factory=dict)  # invalid entries: name -> why

    @property
    def names(self) -> list[str]:
        """The variants the manifest lists."""
        return sorted(self.manifest["variants"])

    @property
    def label(self) -> str:
        """Where the zoo came from, for people (the app shows it)."""
        return (f"Hub {self.repo_id}@{self.revision[:12]}"
                + (" (offline, cached)" if self.offline else ""))

    def _download(self, path: str) -> Path:
        try:
            return Path(hf_hub_download(self.repo_id, path, revision=self.revision,
                                        cache_dir=self.cache_dir, token=self.token,
                                        endpoint=self.endpoint, etag_timeout=hub_timeout(),
                                        local_files_only=self.offline))
        except LocalEntryNotFoundError as e:
            raise HubUnreachableError(
                f"cannot reach the Hub for {self.repo_id}@{self.revision} and {path} is not "
                "cached") from e
        except RemoteEntryNotFoundError as e:
            raise HubNotFoundError(f"{self.repo_id}@{self.revision} has no file {path}") from e
        except (HfHubHTTPError, *_UNREACHABLE) as e:
            raise _translate(e, self.repo_id, self.revision) from e

    def hub_size(self, path: str) -> int | None:
        """The size the Hub declares for `path` at this revision, from a HEAD request (for
        an LFS file, its X-Linked-Size), before any of the body moves. None when offline,
        already cached at this commit (the hash check follows), or not declared."""
        if self.offline or try_to_load_from_cache(self.repo_id, path, self.cache_dir,
                                                  self.revision) is not None:
            return None
        url = hf_hub_url(self.repo_id, path, revision=self.revision, endpoint=self.endpoint)
        try:
            return get_hf_file_metadata(url, token=self.token, timeout=hub_timeout(),
                                        endpoint=self.endpoint).size
        except RemoteEntryNotFoundError as e:
            raise HubNotFoundError(f"{self.repo_id}@{self.revision} has no file {path}") from e
        except (HfHubHTTPError, *_UNREACHABLE):
            return None  # the download meets the same failure and reports it

    def fetch_verified(self, path: str, expected: dict) -> bytes:
        """Download `path` and check it; a mismatch is evicted from the cache, then refused.

        The manifest is untrusted too, but its sizes bound what is downloaded: a file the Hub
        declares larger (or smaller) than the manifest says is not fetched at all.
        """
        where = f"{self.repo_id}@{self.revision}"
        if expected["bytes"] > file_limit(path):  # the schema says so too; never download it
            raise ArtifactError(f"{path} on {where}: the manifest says {expected['bytes']} "
                                "bytes, more than such a file may hold; not downloaded")
        size = self.hub_size(path)
        if size is not None and size != expected["bytes"]:
            raise ArtifactError(f"{path} on {where} is {size} bytes but the manifest says "
                                f"{expected['bytes']}; it was not downloaded")
        local = self._download(path)
        try:
            data = read_limited(local, file_limit(path), exact=expected["bytes"])
            problem = mismatch(data, expected)
        except FileSizeError as e:
            problem = str(e)
        except OSError as e:
            raise ArtifactError(f"{path} from {where}: cannot read the cached copy {local}: "
                                f"{e.strerror or e}") from e
        if problem:
            blob = local.resolve()
            local.unlink(missing_ok=True)
            blob.unlink(missing_ok=True)
            raise ArtifactError(f"{path} from {where} does not match the manifest ({problem}); "
                                "it was removed from cache and not loaded")
        return data

    def load(self, name: str) -> Model:
        if name in self.problems:
            raise ManifestError(self.problems[name])
        try:
            files = entry(self.manifest, name)["files"]
        except ManifestError as e:
            raise VariantNotFoundError(f"{self.repo_id}@{self.revision}: {e}") from None
        return load_files(name, files, self.fetch_verified)

    def load_detector(self) -> Model | None:
        """The not-a-digit detector the manifest lists (downloaded and hash-checked), or
        None when it lists none."""
        d = self.manifest.get(DETECTOR)
        if d is None:
            if DETECTOR in self.problems:
                raise ManifestError(self.problems[DETECTOR])
            return None
        return load_files(d["name"], d["files"], self.fetch_verified)


def open_zoo(repo_id: str, revision: str | None = None, *, token: str | None = None,
             cache_dir: str | Path | None = None, endpoint: str | None = None) -> HubZoo:
    """Read the repo's manifest at `revision` and pin the commit it came from.

    The manifest is fetched by ref, so the client records the ref in its cache for offline
    use; the commit is the snapshot folder it landed in, and the variant files are then
    fetched at that commit, so manifest and weights always come from one revision. The
    whole of it gives up after open_deadline() seconds with a HubUnreachableError.
    """
    return _bounded(lambda: _open_zoo(repo_id, revision, token, cache_dir, endpoint),
                    open_deadline(), f"opening {repo_id}@{revision or 'main'}")


def _open_zoo(repo_id: str, revision: str | None, token: str | None,
              cache_dir: str | Path | None, endpoint: str | None) -> HubZoo:
    api = HfApi(endpoint=endpoint, token=token)
    cache = str(cache_dir) if cache_dir is not None else None
    ref = revision or "main"
    try:
        try:
            # distinct errors, and are we online?
            api.model_info(repo_id, revision=revision, timeout=hub_timeout())
            offline = False
        except _UNREACHABLE as e:
            log.warning("Hub unreachable (%s); using the cached copy of %s@%s",
                        e.__class__.__name__, repo_id, ref)
            offline = True
        except HfHubHTTPError as e:
            raise _translate(e, repo_id, revision) from e
        probe = HubZoo(repo_id, ref, {}, offline, cache, token, endpoint)
        size = probe.hub_size(MANIFEST)
        if size is not None and size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{repo_id}@{ref}/{MANIFEST} is {size} bytes, more than a "
                                f"manifest needs ({MAX_MANIFEST_BYTES}); it was not downloaded")
        path = probe._download(MANIFEST)
    except (KeyError, TypeError, ValueError) as e:
        # The client parsing an answer that is not the Hub's (a broken proxy, a captive
        # portal): the app must start on its shipped zoo, not crash.
        raise HubError(f"{repo_id}@{ref}: the Hub's answer could not be read "
                       f"({e.__class__.__name__}: {e})") from e
    commit = path.parent.name if _COMMIT.fullmatch(path.parent.name) else ref
    origin = f"{repo_id}@{commit}/{MANIFEST}"
    try:
        data = read_limited(path, MAX_MANIFEST_BYTES)
    except (FileSizeError, OSError) as e:
        raise ManifestError(f"{origin}: {e}") from e
    manifest, problems = parse_usable(data, origin)
    return HubZoo(repo_id, commit, manifest, offline, cache, token, endpoint, problems)


def load(name: str, repo: str, revision: str | None = None, **kwargs) -> Model:
    """One variant from a Hub repo, verified; see `open_zoo` for the keyword arguments."""
    return open_zoo(repo, revision, **kwargs).load(name)
