"""What can go wrong between the zoo and the Hub, as the zoo's own exceptions.

Kept apart from the client code so that a caller (the web app) can tell a Hub failure from
any other without importing huggingface_hub's error classes.
"""


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
