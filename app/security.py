"""Response headers every page carries."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_login import current_user

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"
PRIVATE_PREFIXES = ("/auth/", "/account")


def init_app(app: Flask) -> None:
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
