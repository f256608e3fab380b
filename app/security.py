"""Response headers every page carries, and the one input no page accepts (NUL)."""

from __future__ import annotations

from flask import Flask, Response, abort, request
from flask_login import current_user

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"
PRIVATE_PREFIXES = ("/auth/", "/account")


NUL_REFUSED = "A NUL character (%00) is not allowed in an address or a form."


def _holds_nul(pairs) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters() -> None:
        """No input of this app may hold NUL: PostgreSQL cannot store or even compare one
        (the driver refuses the query), so it is a clear 400 on every database."""
        if "\x00" in request.path or _holds_nul(request.args.items(multi=True)):
            abort(400, NUL_REFUSED)
        if request.method == "POST" and _holds_nul(request.form.items(multi=True)):
            abort(400, NUL_REFUSED)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if app.config.get("HSTS"):
            headers.setdefault("Strict-Transport-Security", HSTS)
        # Nothing personal may be kept by a browser or proxy cache, nor forms with tokens.
        if request.path.startswith("/static/"):
            return response  # CSS and scripts are the same for everyone: let them be cached
        if current_user.is_authenticated or request.path.startswith(PRIVATE_PREFIXES):
            headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        return response
