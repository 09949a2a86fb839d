"""Fetching a published zoo from the Hub, one variant at a time.

Opening resolves the revision to a commit first, then downloads the manifest and, later,
only the asked-for variant's files at that commit (cached by huggingface_hub), and checks
them against the manifest's SHA-256 before parsing.

What the Hub sends is untrusted: the manifest passes the schema check in zoo.manifest (an
invalid entry makes that variant unavailable, with its reason), sizes are compared with
what the Hub declares before a body is downloaded and with stat before it is read, every
request has a timeout and opening the zoo a deadline (zoo.hub.client), and an answer the
client cannot read is a HubError, so the app falls back to its shipped zoo instead of
failing to start.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import (
    HfApi,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    try_to_load_from_cache,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
)

from engine.files import FileSizeError, read_limited
from engine.model import Model
from zoo.artifacts import ArtifactError, file_limit, load_files, mismatch
from zoo.hub.client import UNREACHABLE, bounded, hub_timeout, open_deadline, translate
from zoo.hub.errors import HubError, HubNotFoundError, HubUnreachableError, VariantNotFoundError
from zoo.manifest import MANIFEST, MAX_MANIFEST_BYTES, ManifestError, parse_usable
from zoo.sources import Zoo

log = logging.getLogger("digit_zoo.hub")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubZoo(Zoo):
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
        except (HfHubHTTPError, *UNREACHABLE) as e:
            raise translate(e, self.repo_id, self.revision) from e

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
        except (HfHubHTTPError, *UNREACHABLE):
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

    def _load(self, name: str, files: dict) -> Model:
        return load_files(name, files, self.fetch_verified)

    def _missing(self, error: ManifestError) -> Exception:
        return VariantNotFoundError(f"{self.repo_id}@{self.revision}: {error}")


def open_repo(repo_id: str, revision: str | None = None, *, token: str | None = None,
              cache_dir: str | Path | None = None, endpoint: str | None = None) -> HubZoo:
    """Read the repo's manifest at `revision` and pin the commit it came from.

    The manifest is fetched by ref, so the client records the ref in its cache for offline
    use; the commit is the snapshot folder it landed in, and the variant files are then
    fetched at that commit, so manifest and weights always come from one revision. The
    whole of it gives up after open_deadline() seconds with a HubUnreachableError.
    """
    return bounded(lambda: _open_repo(repo_id, revision, token, cache_dir, endpoint),
                   open_deadline(), f"opening {repo_id}@{revision or 'main'}")


def _open_repo(repo_id: str, revision: str | None, token: str | None,
               cache_dir: str | Path | None, endpoint: str | None) -> HubZoo:
    api = HfApi(endpoint=endpoint, token=token)
    cache = str(cache_dir) if cache_dir is not None else None
    ref = revision or "main"
    try:
        try:
            # distinct errors, and are we online?
            api.model_info(repo_id, revision=revision, timeout=hub_timeout())
            offline = False
        except UNREACHABLE as e:
            log.warning("Hub unreachable (%s); using the cached copy of %s@%s",
                        e.__class__.__name__, repo_id, ref)
            offline = True
        except HfHubHTTPError as e:
            raise translate(e, repo_id, revision) from e
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
