"""What every conversation with the Hub shares: repo ids, tokens, time limits and the
translation of the client's errors into the zoo's.

Every request has a timeout (ZOO_HUB_TIMEOUT) and opening a zoo a deadline (1.4 times that:
14 s by default), so a Hub that accepts connections and never answers costs the app that,
then its shipped zoo, never a hung start.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

import httpx2
from huggingface_hub import get_token
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import HFValidationError, validate_repo_id

from zoo.hub.errors import HubAuthError, HubError, HubNotFoundError, HubUnreachableError

REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# What the client raises when no answer came at all (as opposed to an answer saying no).
UNREACHABLE = (httpx2.TransportError, OfflineModeIsEnabled, ConnectionError, TimeoutError)
# hf_xet reports a failed token request as a ConnectionError naming this endpoint.
_XET_TOKEN = re.compile(r"xet-(?:read|write)-token")
_XET_STATUS = re.compile(r"\((\d{3}) [^)]*\)")


def hub_timeout() -> float:
    """Seconds any one Hub request may take before the zoo gives up on it (ZOO_HUB_TIMEOUT).

    Body downloads are bounded per read by huggingface_hub's own HF_HUB_DOWNLOAD_TIMEOUT.
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


def bounded(call: Callable, seconds: float, what: str):
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


def repo_from_env() -> tuple[str | None, str | None]:
    """The repo and revision configured by ZOO_REPO and ZOO_REVISION, if any."""
    return os.environ.get("ZOO_REPO") or None, os.environ.get("ZOO_REVISION") or None


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it is a Hub repo id ("namespace/name"), else a HubError saying why."""
    try:
        if not REPO_ID.fullmatch(repo_id):
            raise HFValidationError("expected namespace/name")
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise HubError(f"{repo_id!r} is not a Hub repo id ({e})") from None
    return repo_id


def need_token(token: str | None = None) -> str:
    """`token`, else the one HF_TOKEN or `hf auth login` gave; none at all is a HubAuthError
    before any request is made."""
    token = token or get_token()
    if not token:
        raise HubAuthError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return token


def translate(e: Exception, repo_id: str, revision: str | None) -> HubError:
    """The zoo's exception for what the client raised talking to `repo_id` at `revision`."""
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
    if isinstance(e, UNREACHABLE):
        return HubUnreachableError(f"cannot reach the Hub for {where}: {e}")
    return HubError(f"{where}: {e}")
