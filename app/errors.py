"""Error pages for browsers, small fragments for htmx."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db
from app.htmx import render

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
}


def _render_error(code: int, description: str | None = None):
    message = description if description and code != 500 else MESSAGES.get(code, MESSAGES[500])
    return render(
        "errors/page.html", "errors/_message.html", status=code, code=code, message=message
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _render_error(400, "Your form expired or was sent from elsewhere; reload and retry.")

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
        app.logger.exception("Unhandled error", exc_info=error)
        return _render_error(InternalServerError.code)
