"""Where to send a person after signing in: only ever a path on this site."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

DEFAULT_DESTINATION = "/datasets"


def safe_next(target: str | None, default: str = DEFAULT_DESTINATION) -> str:
    """`target` when it is a local path, else `default`.

    Browsers read `//host`, `/\\host` and paths with tabs or newlines in them as other sites,
    so a backslash or control character anywhere, even percent-encoded, disqualifies a target.
    """
    if not target or len(target) > 2000:
        return default
    decoded = unquote(target)
    for text in (target, decoded):
        if "\\" in text or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            return default
        if not text.startswith("/") or text.startswith("//"):
            return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
