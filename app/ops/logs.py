"""Logs: one JSON object per line (LOG_FORMAT=json) or plain text, each with the request id.

Every log record gets `request_id`, `method` and `path` from the work in hand (app.ops.context),
whichever logger made it; the request's own line adds `status`, `duration_ms`, `endpoint`, and
`hub_calls` with `hub_ms` when it asked the Hub (time spent waiting on it). Known secrets
(the Hub token, SECRET_KEY, METRICS_TOKEN, passwords in database or Redis URLs) and bearer
tokens are replaced by "[redacted]" in whatever is written, as a last line of defence: the
code does not log them in the first place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from app.ops.context import current_request_id, current_request_line

FORMATS = ("json", "text")
REDACTED = "[redacted]"
BEARER_RE = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
URL_PASSWORD_RE = re.compile(r"(\w[\w+.-]*://[^/:@\s]*:)[^@/\s]+@")
# Attributes every LogRecord has: anything else on a record was passed with `extra=`.
STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "method",
    "path",
}
EXTRA_FIELDS = ("status", "duration_ms", "endpoint", "hub_calls", "hub_ms", "job_id")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_factory_installed = False


def add_secrets(*values: str | None) -> None:
    """Remember values that must never be written to a log (short ones are ignored)."""
    with _secrets_lock:
        _secrets.update(value for value in values if value and len(value) >= 8)


def url_password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


def redact(text: str) -> str:
    text = BEARER_RE.sub(rf"\1 {REDACTED}", text)
    text = URL_PASSWORD_RE.sub(rf"\1{REDACTED}@", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _install_record_factory() -> None:
    """Give every record the request id, method and path current when it was made."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        line = current_request_line()
        record.request_id = current_request_id()
        record.method = line.method if line else None
        record.path = line.path if line else None
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, method, path..."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in ("request_id", "method", "path"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for name, value in vars(record).items():
            if name not in STANDARD_ATTRIBUTES and name not in entry:
                entry[name] = value if name in EXTRA_FIELDS else redact(str(value))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request id] message`, for a person reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record = logging.makeLogRecord({**vars(record), "request_id": "-"})  # a copy
        return redact(super().format(record))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (it may be replaced after set-up)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def formatter_for(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(config) -> None:
    """Set up logging for this process from the app's config (LOG_FORMAT, LOG_LEVEL).

    As logging.basicConfig does, it installs a handler on the root logger only when nobody has
    (gunicorn workers, RQ workers and `flask` commands have none; a test runner has its own);
    a later app in the same process replaces that handler's format rather than adding one.
    """
    log_format = str(config.get("LOG_FORMAT") or "text").lower()
    formatter = formatter_for(log_format)
    _install_record_factory()
    add_secrets(
        config.get("HUGGINGFACE_API_TOKEN"),
        config.get("SECRET_KEY"),
        config.get("METRICS_TOKEN"),
        url_password(config.get("SQLALCHEMY_DATABASE_URI")),
        url_password(config.get("REDIS_URL")),
    )
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if isinstance(handler, StderrHandler)]
    if ours:
        ours[0].setFormatter(formatter)
    elif not root.handlers:
        handler = StderrHandler()
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(config.get("LOG_LEVEL", "INFO"))


def logs_requests(config) -> bool:
    """LOG_REQUESTS=1/0; unset, one line per request in JSON mode (text mode has the server's)."""
    value = str(config.get("LOG_REQUESTS") or "").strip().lower()
    if value in ("", "auto"):
        return str(config.get("LOG_FORMAT") or "text").lower() == "json"
    return value not in ("0", "false", "no", "off")
