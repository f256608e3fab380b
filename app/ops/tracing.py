"""OpenTelemetry traces of requests, SQL statements, Hub calls and jobs; off unless asked.

The rule: tracing is on when OTEL_TRACES_EXPORTER names an exporter (`console`, `otlp`, or
both, comma-separated) and OTEL_SDK_DISABLED is not `true`. Unset or `none`: nothing is hooked
into Flask or SQLAlchemy, no tracer or provider is made, and `span()` hands back one shared
do-nothing object. The other standard variables work as the SDK defines them:
OTEL_SERVICE_NAME (default `dataset-explorer`), OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER
(default: every trace, or the caller's decision when a `traceparent` header comes in),
OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT / _HEADERS / _PROTOCOL, OTEL_BSP_*.

What is traced, each span with the request id (`request_id`) of the work in hand:
- a request: a SERVER span named by the Flask endpoint (`catalog.browse`), with the method,
  route, path (feed and share tokens masked), status code and request id;
- each SQL statement run inside a traced span: a CLIENT child span named by the statement's
  first word and table (`SELECT datasets`), `db.system`, the statement's first words; never
  its parameters (values are always bound, so they are not in the text);
- each Hub call (app.hub.client): a CLIENT span with the URL without its query (the token is
  a header, never in the URL), the outcome as /metrics counts it and the status code;
- each job run (app.jobs.service.run): a span `job <kind>` with the job id and the request id
  of the request that queued it. An inline job is a child of that request's span; a job run by
  the thread engine or an RQ worker starts a trace of its own, found by the request id.

Fork safety: the tracer provider (and its BatchSpanProcessor's export thread) is made lazily,
by the first span of a process, and made again when the process id changed. gunicorn forks its
workers from the master; a provider made before the fork would leave the workers with a copy
whose export thread does not exist (spans queued, never sent). Making it on first use, in the
worker, is right with or without preload_app, and for RQ's work horses (a fork per job), which
also flush at the end of each job (`flush()`), since a work horse exits without cleanup.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.ops.context import current_request_id

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

SERVICE_NAME = "dataset-explorer"
INSTRUMENTATION = "app.ops.tracing"
REQUEST_ID = "request_id"
STATEMENT_WORDS = 8  # `db.statement` keeps this many words of the SQL text, at most
STATEMENT_CHARS = 160
_SPAN_ATTR = "_ops_tracing_span"  # on SQLAlchemy's ExecutionContext, while a statement runs
_TABLE_RE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"?([A-Za-z_][A-Za-z0-9_.]*)', re.I)


def wanted(environ: Mapping[str, str] | None = None) -> list[str]:
    """The exporters the environment asks for; empty when tracing is off."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [
        name.strip().lower()
        for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    ]
    return [] if not names or "none" in names else names


class _State:
    """The process's tracing: None until it is switched on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exporters: list[str] | None = None  # from the environment
        self.processors: list | None = None  # given by `enable` (tests), used as they are
        self.provider = None
        self.tracer = None
        self.pid: int | None = None


_state = _State()


def enabled() -> bool:
    return _state.exporters is not None or _state.processors is not None


def enable(processors: list | None = None) -> None:
    """Switch tracing on for this process: with the environment's exporters, or with these
    span processors (a test's InMemorySpanExporter). The provider is made on first use."""
    with _state.lock:
        _shutdown_provider()
        if processors is None:
            _state.exporters, _state.processors = wanted() or ["console"], None
        else:
            _state.exporters, _state.processors = None, list(processors)


def disable() -> None:
    """Switch tracing off again, sending what is queued first."""
    with _state.lock:
        _shutdown_provider()
        _state.exporters = _state.processors = None


def _shutdown_provider() -> None:
    if _state.provider is not None and _state.pid == os.getpid():
        _state.provider.shutdown()
    _state.provider = _state.tracer = _state.pid = None


def flush(timeout_seconds: float = 5.0) -> None:
    """Send the spans waiting in the batch (a job's end: an RQ work horse exits right after)."""
    provider = _state.provider
    if provider is not None and _state.pid == os.getpid():
        provider.force_flush(int(timeout_seconds * 1000))


def tracer():
    """This process's tracer, made on first use after any fork; None when tracing is off."""
    if not enabled():
        return None
    if _state.tracer is not None and _state.pid == os.getpid():
        return _state.tracer
    with _state.lock:
        if not enabled():
            return None
        if _state.tracer is None or _state.pid != os.getpid():
            _state.provider = _make_provider()
            _state.pid = os.getpid()
            _state.tracer = _state.provider.get_tracer(INSTRUMENTATION)
        return _state.tracer


def _make_provider():
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if _state.processors is not None:
        processors = _state.processors
    else:
        processors = [BatchSpanProcessor(e) for e in _exporters(_state.exporters or [])]
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def _exporters(names: list[str]) -> list:
    """The exporters named; one that cannot be made is left out with a log line, not a crash."""
    made = []
    for name in names:
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            made.append(ConsoleSpanExporter(service_name=SERVICE_NAME))
        elif name == "otlp":
            exporter = _otlp_exporter()
            if exporter is not None:
                made.append(exporter)
        else:
            log.warning("OTEL_TRACES_EXPORTER: %r is not an exporter this app knows", name)
    if not made:
        log.warning("Tracing is on but no exporter could be made: spans are dropped.")
    return made


def _otlp_exporter():
    """OTLP over HTTP/protobuf (the spec's default), or gRPC when OTEL_EXPORTER_OTLP_PROTOCOL
    (or _TRACES_PROTOCOL) says `grpc`; each comes from its own package."""
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        package = "opentelemetry-exporter-otlp-proto-" + ("grpc" if protocol == "grpc" else "http")
        log.warning(
            "OTEL_TRACES_EXPORTER=otlp but %s is not installed: no spans are sent "
            "(pip install %s, or use OTEL_TRACES_EXPORTER=console)",
            package,
            package,
        )
        return None
    return OTLPSpanExporter()


class _NoSpan:
    """What `span()` gives while tracing is off: one shared object, nothing recorded."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc) -> bool:
        return False


_NO_SPAN = _NoSpan()


def span(name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: dict | None = None):
    """A span around a block, child of the current one, with the request id; exceptions are
    recorded and mark it failed. Off: the shared do-nothing context manager."""
    current = tracer()
    if current is None:
        return _NO_SPAN
    return current.start_as_current_span(name, kind=kind, attributes=_with_request_id(attributes))


def hub_span(url: str):
    """A span around one Hub call (retries included): `url` without its query, the outcome
    (as /metrics counts it: ok, not_found, unavailable...) and the status code."""
    if tracer() is None:
        return _NO_SPAN
    return _hub_span(url)


@contextmanager
def _hub_span(url: str) -> Iterator[Any]:
    from urllib.parse import urlsplit

    from app.ops.instruments import hub_outcome

    parts = urlsplit(url)
    attributes = {
        "http.request.method": "GET",
        "url.full": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "server.address": parts.hostname or "",
        "peer.service": "huggingface-hub",
    }
    with span("hub GET", SpanKind.CLIENT, attributes) as current:
        try:
            yield current
        except BaseException as error:
            set_attributes(current, {"hub.outcome": hub_outcome(error)})
            raise
        set_attributes(current, {"hub.outcome": "ok"})


def set_attributes(current, attributes: dict) -> None:
    """Add attributes to a span from `span()` (nothing when tracing is off)."""
    if current is not None:
        current.set_attributes(attributes)


def failed(current, error: BaseException) -> None:
    """Mark a span failed by an error that was handled (a job that failed)."""
    if current is not None:
        current.record_exception(error)
        current.set_status(Status(StatusCode.ERROR, type(error).__name__))


def _with_request_id(attributes: dict | None) -> dict:
    attributes = dict(attributes or {})
    request_id = current_request_id()
    if request_id:
        attributes[REQUEST_ID] = request_id
    return attributes


# --- Requests -------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """When the environment asks for traces: request spans (Flask signals) and statement spans
    (SQLAlchemy engine events) for this app. Otherwise nothing at all."""
    names = wanted()
    if not names:
        return
    if not enabled():
        enable()
    log.info("Tracing on: exporters %s", ", ".join(names))
    from flask import request_finished, request_started, request_tearing_down

    # Signals, not before_request hooks: request_started comes before every before_request
    # function, so a request the rate limiter turns away is traced too. weak=False: the
    # receivers are closures that nothing else holds.
    request_started.connect(_start_request, app, weak=False)
    request_finished.connect(_finish_request, app, weak=False)
    request_tearing_down.connect(_end_request, app, weak=False)
    app.extensions["ops_tracing"] = True
    from app.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            instrument_engine(engine)


def _start_request(sender: Flask, **_extra) -> None:
    current = tracer()
    if current is None:
        return
    from flask import g, request

    from app.ops.hooks import loggable_path

    endpoint = request.endpoint
    attributes = {
        "http.request.method": request.method,
        "url.path": loggable_path(),
        "url.scheme": request.scheme,
        "flask.endpoint": endpoint or "none",
    }
    if request.url_rule is not None:
        attributes["http.route"] = request.url_rule.rule
    parent = propagate.extract(request.headers)  # deploy/nginx.conf drops a client's
    started = current.start_span(
        endpoint or f"{request.method} (no route)",
        context=parent,
        kind=SpanKind.SERVER,
        attributes=attributes,
    )
    token = otel_context.attach(trace.set_span_in_context(started, parent))
    g._ops_trace = (started, token)


def _finish_request(sender: Flask, response, **_extra) -> None:
    from flask import g

    started, _token = g.get("_ops_trace", (None, None))
    if started is not None:
        started.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            started.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))


def _end_request(sender: Flask, exc: BaseException | None = None, **_extra) -> None:
    from flask import g

    started, token = g.pop("_ops_trace", (None, None))
    if started is None:
        return
    request_id = g.get("ops_request_id")  # app.ops.hooks: taken from nginx or made
    if request_id:
        started.set_attribute(REQUEST_ID, request_id)
    if exc is not None:
        started.record_exception(exc)
        started.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    started.end()
    try:
        otel_context.detach(token)
    except Exception:  # a context already reset: nothing left to undo
        pass


# --- SQL statements -------------------------------------------------------------------------


def instrument_engine(engine) -> None:
    """A CLIENT span per statement run inside a traced span (a request, a Hub-free job...).

    Statements outside any span (the job thread's poll every few seconds, heartbeats) are not
    traced: each would be a trace of its own, noise without a cause to attach it to.
    """
    from sqlalchemy import event

    if event.contains(engine, "before_cursor_execute", _before_statement):
        return
    event.listen(engine, "before_cursor_execute", _before_statement)
    event.listen(engine, "after_cursor_execute", _after_statement)
    event.listen(engine, "handle_error", _statement_failed)


def statement_summary(statement: str) -> tuple[str, str | None, str]:
    """(operation, first table or None, the first words) of a SQL text."""
    words = statement.split()
    operation = words[0].upper() if words else "SQL"
    match = _TABLE_RE.search(statement)
    table = match.group(1) if match else None
    first = " ".join(words[:STATEMENT_WORDS])[:STATEMENT_CHARS]
    return operation, table, first


def _before_statement(conn, cursor, statement, parameters, context, executemany) -> None:
    if context is None or not trace.get_current_span().is_recording():
        return
    current = tracer()
    if current is None:
        return
    operation, table, first = statement_summary(statement)
    attributes = {
        "db.system": conn.dialect.name,
        "db.operation": operation,
        "db.statement": first,
    }
    if table:
        attributes["db.sql.table"] = table
    if executemany:
        attributes["db.executemany"] = True
    setattr(
        context,
        _SPAN_ATTR,
        current.start_span(
            f"{operation} {table}" if table else operation,
            kind=SpanKind.CLIENT,
            attributes=_with_request_id(attributes),
        ),
    )


def _after_statement(conn, cursor, statement, parameters, context, executemany) -> None:
    started = getattr(context, _SPAN_ATTR, None)
    if started is not None:
        setattr(context, _SPAN_ATTR, None)
        started.end()


def _statement_failed(exception_context) -> None:
    started = getattr(exception_context.execution_context, _SPAN_ATTR, None)
    if started is not None:
        setattr(exception_context.execution_context, _SPAN_ATTR, None)
        error = exception_context.original_exception
        started.set_status(Status(StatusCode.ERROR, type(error).__name__))
        started.end()
