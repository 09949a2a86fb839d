"""The zoo on the Hugging Face Hub: publish it in one commit (push), fetch one variant at a
time (pull), and deploy the app as a Space (space), all with huggingface_hub's own client.

    from zoo import hub
    hub.push("models", "you/digit-zoo")               # needs a write token
    z = hub.open_repo("you/digit-zoo", "main")        # or zoo.open("you/digit-zoo")
    python -m zoo.hub.space you/digit-zoo             # the app as a Space
"""

from zoo.hub.client import REPO_ID, hub_timeout, open_deadline, repo_from_env
from zoo.hub.errors import (
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubUnreachableError,
    VariantNotFoundError,
)
from zoo.hub.pull import HubZoo, open_repo
from zoo.hub.push import PushResult, check_complete, check_push_access, push

__all__ = ["REPO_ID", "HubAuthError", "HubError", "HubNotFoundError",
           "HubUnreachableError", "HubZoo", "PushResult", "VariantNotFoundError",
           "check_complete", "check_push_access", "hub_timeout", "open_deadline", "open_repo",
           "push", "repo_from_env"]
