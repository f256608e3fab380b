"""HTTP caching: validators and Cache-Control for public pages, no-store for personal ones.

One after_request hook decides for every response, so views stay unaware of caching:

- POST and the other unsafe methods: ``no-store``.
- A signed-in visitor, and the personal areas (following, feed, account, combinations and
  their shared links, jobs): ``private, no-store``. No validator: nothing is kept to revalidate.
- The public pages (catalog, facet lists, dataset pages and their history, topic map) answered
  with 200 to a signed-out visitor get an ETag and answer If-None-Match with 304. Their
  Cache-Control depends on whether the body is the same for every signed-out visitor:

  * ``public, max-age=60`` only when it is: the visitor's session is empty and stays empty, so
    no cookie is set and no CSRF token was rendered into the page. Sixty seconds is how long a
    catalog change (a sync, an import) may take to show; nginx may keep such a page that long.
  * ``private, no-cache`` otherwise: a page carrying a visitor's CSRF token must never reach
    another person through a shared cache (the token would let its reader forge that visitor's
    requests), but the visitor's own browser may keep it and revalidate it each time.

  Today every page but the dataset history fragment renders the token (``<body hx-headers>``,
  the follow and selection forms), so a signed-out visitor's first answer sets the session
  cookie and every such answer is private. The ETag of such a page hashes the body without
  the signed token (which changes every second), plus the session's raw token and the half of
  the token's lifetime we are in: a 304 then only ever keeps a page whose token belongs to
  this session and still has at least half its lifetime left (a new session, or an old page,
  gets a fresh 200).
- Errors on public pages: ``no-store`` (a 503 while the Hub is down must not linger).
- Everything else (static files, /health) is left as its view set it.
"""

from __future__ import annotations

import hashlib
import time

from flask import Flask, Response, current_app, g, request, session
from flask_login import current_user

from app.htmx import VARY_HEADERS

PUBLIC_ENDPOINTS = frozenset(
    {
        "catalog.browse",
        "catalog.facet_values",
        "datasets.show",
        "datasets.commits",
        "topics.index",
        "topics.show",
    }
)
PERSONAL_BLUEPRINTS = frozenset({"auth", "follows", "combinations", "jobs"})
SAFE_METHODS = ("GET", "HEAD")

PUBLIC = "public, max-age=60"
PRIVATE_REVALIDATE = "private, no-cache"
PERSONAL = "private, no-store"
NO_STORE = "no-store"

EXTENSION_KEY = "http_cache_public_endpoints"
CSRF_FIELD = "csrf_token"  # flask-wtf's default WTF_CSRF_FIELD_NAME: in g and in the session


def is_personal() -> bool:
    return current_user.is_authenticated or request.blueprint in PERSONAL_BLUEPRINTS


def same_for_every_visitor(response: Response) -> bool:
    """True when nothing of this visitor went into the response, and no cookie will be set.

    The session cookie is written after the after_request hooks: an empty, unmodified session
    is what guarantees it will not be.
    """
    return (
        not session
        and not session.modified
        and not g.get(CSRF_FIELD)
        and "Set-Cookie" not in response.headers
        and "Authorization" not in request.headers
    )


def page_etag(body: bytes) -> tuple[str, bool]:
    """(the ETag, weak?) of a page: its bytes, or for a page with a CSRF token, see above."""
    token = g.get(CSRF_FIELD)
    if not token:
        return hashlib.sha256(body).hexdigest()[:32], False
    digest = hashlib.sha256(body.replace(token.encode(), b""))
    digest.update(str(session.get(CSRF_FIELD, "")).encode())
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)
    if limit:
        digest.update(str(int(time.time() // max(limit // 2, 1))).encode())
    return digest.hexdigest()[:32], True


def apply(response: Response) -> Response:
    """Set the caching headers of one response (the after_request hook)."""
    if request.endpoint is None or request.endpoint == "static":
        return response
    if request.method not in SAFE_METHODS:
        response.headers["Cache-Control"] = NO_STORE
        return response
    if is_personal():
        response.headers["Cache-Control"] = PERSONAL
        response.headers.pop("ETag", None)
        response.vary.add("Cookie")
        return response
    if request.endpoint not in current_app.extensions[EXTENSION_KEY]:
        return response
    response.vary.update(("Cookie", *VARY_HEADERS))
    if response.status_code != 200 or response.is_streamed or response.direct_passthrough:
        response.headers["Cache-Control"] = NO_STORE
        return response
    public = same_for_every_visitor(response)
    response.headers["Cache-Control"] = PUBLIC if public else PRIVATE_REVALIDATE
    etag, weak = page_etag(response.get_data())
    response.set_etag(etag, weak=weak)
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    """Register the hook; call it before other after_request hooks so its word is the last."""
    app.extensions[EXTENSION_KEY] = set(PUBLIC_ENDPOINTS)  # a new public page adds itself here
    app.after_request(apply)
