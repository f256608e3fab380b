"""Choosing between a whole page and the fragment htmx swaps in."""

from __future__ import annotations

from flask import Response, make_response, redirect, render_template, request

VARY_HEADERS = ("HX-Request", "HX-Boosted", "HX-History-Restore-Request")


def wants_fragment() -> bool:
    """A fragment for htmx's own swaps; boosted links and history restores need the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(page_template: str, fragment_template: str, status: int = 200, **context) -> Response:
    """Render the fragment for htmx requests and the page (which includes it) otherwise."""
    is_fragment = wants_fragment()
    template = fragment_template if is_fragment else page_template
    response = make_response(
        render_template(template, htmx_fragment=is_fragment, **context), status
    )
    response.vary.update(VARY_HEADERS)
    return response


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def redirect_after_post(location: str) -> Response:
    """303 for a plain form; for htmx a full navigation (HX-Redirect), so the page is whole."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, 303)


def navigate_away(location: str, status: int) -> Response:
    """An error that must leave the page (expired session or form) without a silent failure."""
    if is_htmx():
        response = make_response("", status)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, 303 if request.method != "GET" else 302)
