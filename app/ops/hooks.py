"""Per-request observability: the request id, the request metrics and the request's log line."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from app.ops import context, instruments, logs

log = logging.getLogger("app.request")

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def loggable_path() -> str:
    """The request path with secret parts (feed and share tokens) masked; no query string."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if "token" in name.lower() and isinstance(value, str) and value:
            path = path.replace(value, logs.REDACTED)
    return path


def init_app(app: Flask) -> None:
    def start_request() -> None:
        request_id = (
            context.valid_request_id(request.headers.get(context.HEADER))
            or context.new_request_id()
        )
        g.ops_started = time.perf_counter()
        g.ops_request_id = request_id
        g.ops_context = context.bind(
            request_id, context.RequestLine(request.method, loggable_path())
        )

    def finish_request(response: Response) -> Response:
        request_id = g.get("ops_request_id")
        if request_id:
            response.headers[context.HEADER] = request_id
        started = g.get("ops_started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        endpoint = request.endpoint or "none"  # no route matched (404, 405)
        method = request.method if request.method in METHODS else "other"
        instruments.request_answered(endpoint, method, response.status_code, seconds)
        if logs.logs_requests(app.config):
            fields = {
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "endpoint": endpoint,
            }
            hub = context.current_hub_tally()
            if hub is not None and hub.calls:  # a slow request's first suspect
                fields["hub_calls"] = hub.calls
                fields["hub_ms"] = round(hub.seconds * 1000, 1)
            log.info(
                "%s %s %s", request.method, loggable_path(), response.status_code, extra=fields
            )
        return response

    def end_request(_error: BaseException | None) -> None:
        tokens = g.pop("ops_context", None)
        if tokens is not None:
            context.unbind(tokens)

    # First of all before_request functions: a request the rate limiter turns away still
    # gets its id and is counted.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(finish_request)
    app.teardown_request(end_request)
