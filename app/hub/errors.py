"""What can go wrong talking to the Hub, in terms a view can act on."""

from __future__ import annotations


class HubError(Exception):
    """Any failure to get an answer from the Hub."""


class InvalidRepoId(HubError, ValueError):
    """The id does not follow the Hub's rules; no request was made."""


class HubNotFound(HubError):
    """No such dataset (or revision, or file), or it is private."""


class HubGated(HubError):
    """The dataset's files need an accepted access request."""


class HubRateLimited(HubError):
    """The Hub asked us to slow down; `retry_after` seconds until it will answer again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HubUnavailable(HubError):
    """Timeouts, server errors, garbage in the answer, or our circuit breaker is open."""
