"""Error pages for browsers, small fragments for htmx."""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

from flask import Flask, flash, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.auth.redirects import safe_next
from app.extensions import db, limiter, login_manager
from app.htmx import is_htmx, navigate_away, render

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is nothing at this address.",
    405: "That action is not possible here.",
    409: "That conflicts with the current state; reload and try again.",
    413: "That request is too large.",
    422: "Some of what was sent is not valid.",
    429: "Too many requests; wait a moment and try again.",
    500: "Something went wrong on our side. It has been logged.",
    503: "The database cannot be reached just now. Try again in a moment.",
}


def _render_error(code: int, description: str | None = None, **context):
    message = description if description and code != 500 else MESSAGES.get(code, MESSAGES[500])
    return render(
        "errors/page.html",
        "errors/_message.html",
        status=code,
        code=code,
        message=message,
        **context,
    )


def _wait_in_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = "Your form expired or was sent from elsewhere; reload the page and try again."
        if is_htmx():
            # htmx would otherwise drop the failure silently: reload the page, saying why.
            flash(message)
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            here = current.path + (f"?{current.query}" if current.query else "")
            return navigate_away(safe_next(here), 400)
        return _render_error(400, message)

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(error: RateLimitExceeded):
        limit = limiter.current_limit
        wait = max(1, int(limit.reset_at - time.time())) if limit else 60
        response = _render_error(
            429, f"Too many attempts. Wait {_wait_in_words(wait)}, then try again."
        )
        response.headers["Retry-After"] = str(wait)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or 500
        if code >= 500:
            db.session.rollback()
        # Werkzeug's default descriptions are addressed to developers; ours to people.
        description = error.description if error.description != type(error).description else None
        return _render_error(code, description)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        db.session.rollback()
        if isinstance(error, OperationalError | InterfaceError):
            # The database is down, restarting or busy: a moment's state, not a bug. Who is
            # signed in cannot be asked, so the page offers no account links at all (not
            # "Sign in" to someone who is); sessions are kept.
            app.logger.warning("Database unavailable: %s", type(error.orig).__name__)
            login_manager._update_request_context_with_user()  # the anonymous user
            response = _render_error(503, MESSAGES[503], account_unavailable=True)
            response.headers["Retry-After"] = "5"
            return response
        app.logger.exception("Unhandled error", exc_info=error)
        return _render_error(InternalServerError.code)
