"""Choosing between a whole page and the fragment htmx swaps in."""

from __future__ import annotations

from flask import Response, make_response, render_template, request

VARY_HEADERS = ("HX-Request", "HX-Boosted", "HX-History-Restore-Request")


def wants_fragment() -> bool:
    """A fragment for htmx's own swaps; boosted links and history restores need the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(page: str, fragment: str, status: int = 200, **context) -> Response:
    """Render `fragment` for htmx requests and `page` (which includes it) otherwise."""
    is_fragment = wants_fragment()
    template = fragment if is_fragment else page
    response = make_response(
        render_template(template, htmx_fragment=is_fragment, **context), status
    )
    response.vary.update(VARY_HEADERS)
    return response
