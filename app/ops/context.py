"""The request id of the work in hand, for log lines, Hub calls and jobs (no Flask here).

A web request binds it (taken from nginx's X-Request-ID, or generated); a job binds the id of
the request that queued it. Context variables follow the thread (and asyncio task) they were
set in, so a job thread or an RQ worker binds its own. Each binding also starts a tally of the
Hub calls made under it, which the request's log line reports.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

# nginx's $request_id is 32 hex digits; UUIDs and most tracing ids fit too. Anything else
# (too long, spaces, quotes, newlines) is replaced, so a client cannot forge log lines with it.
# The same rule as deploy/nginx.conf's map, so nginx, gunicorn and the app log the same id.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER = "X-Request-ID"


@dataclass(frozen=True)
class RequestLine:
    """What the log says about the request in hand (the path has its secret parts masked)."""

    method: str
    path: str


@dataclass
class HubTally:
    """The Hub calls made for the work in hand: how many, and the seconds they took."""

    calls: int = 0
    seconds: float = 0.0


_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_request_line: ContextVar[RequestLine | None] = ContextVar("request_line", default=None)
_hub_tally: ContextVar[HubTally | None] = ContextVar("hub_tally", default=None)


def valid_request_id(value: str | None) -> str | None:
    """`value` when it is a short id of safe characters, else None."""
    return value if value and REQUEST_ID_RE.match(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def current_request_line() -> RequestLine | None:
    return _request_line.get()


def current_hub_tally() -> HubTally | None:
    return _hub_tally.get()


def count_hub_call(seconds: float) -> None:
    """Add one Hub call to the tally of the work in hand (none outside a request or job)."""
    tally = _hub_tally.get()
    if tally is not None:
        tally.calls += 1
        tally.seconds += seconds


def bind(request_id: str | None, line: RequestLine | None = None) -> tuple[Token, ...]:
    """Make `request_id` (the request line, a fresh Hub tally) current; `unbind` the tokens
    afterwards."""
    return _request_id.set(request_id), _request_line.set(line), _hub_tally.set(HubTally())


def unbind(tokens: tuple[Token, ...]) -> None:
    try:
        for variable, token in zip((_request_id, _request_line, _hub_tally), tokens, strict=True):
            variable.reset(token)
    except (RuntimeError, ValueError):  # already reset, or set in another context
        _request_id.set(None)
        _request_line.set(None)
        _hub_tally.set(None)


@contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    """Run a block under `request_id`; None keeps the current one (an inline job's caller)."""
    if request_id is None:
        yield
        return
    tokens = bind(request_id)
    try:
        yield
    finally:
        unbind(tokens)
