"""The zoo on the Hugging Face Hub: publish it in one commit (publish), fetch one variant at a
time (pull), and deploy the app as a Space (space), all with huggingface_hub's own client.

    from zoo import hub
    hub.push("models", "you/digit-zoo")               # needs a write token
    z = hub.open_repo("you/digit-zoo", "main")        # or zoo.open("you/digit-zoo")
    python -m zoo.hub.space you/digit-zoo             # the app as a Space

The errors are imported at once; the rest, and with it huggingface_hub (a quarter of a
second), only when first used, so catching a HubError costs nothing to those who never
talk to the Hub.
"""

import importlib

from zoo.hub.errors import (
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubUnreachableError,
    VariantNotFoundError,
)

_LAZY = {"REPO_ID": "client", "hub_timeout": "client", "open_deadline": "client",
         "repo_from_env": "client", "HubZoo": "pull", "open_repo": "pull",
         "PushResult": "publish", "check_complete": "publish", "check_push_access": "publish",
         "push": "publish", "announce_access": "publish", "push_and_report": "publish"}

__all__ = ["HubAuthError", "HubError", "HubNotFoundError", "HubUnreachableError",
           "VariantNotFoundError", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'zoo.hub' has no attribute {name!r}")
    return getattr(importlib.import_module(f"zoo.hub.{_LAZY[name]}"), name)
