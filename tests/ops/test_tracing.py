"""OpenTelemetry traces: request spans with SQL and Hub child spans, job spans with the request id
of the request that queued them, off by default, and the standard OTEL_* switches."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import request_started
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.config import TestConfig
from app.extensions import db
from app.jobs import service
from app.models import Dataset, Job, utcnow
from app.ops import tracing
from tests.hub.conftest import talking_to

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_TracingTestToken_0a1b2c3d4e5f"
OTEL_VARIABLES = ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME")


@pytest.fixture
def exporter(monkeypatch) -> InMemorySpanExporter:
    """Tracing switched on as an operator would (OTEL_TRACES_EXPORTER), spans kept in memory."""
    memory = InMemorySpanExporter()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    tracing.enable([SimpleSpanProcessor(memory)])
    yield memory
    tracing.disable()


@pytest.fixture
def traced_app(app, exporter, make_app, database_url):
    """A second app on the test database, built while the environment asks for traces."""
    config = TestConfig(database_url)
    config.HUGGINGFACE_API_TOKEN = TOKEN
    traced = make_app(config)
    exporter.clear()
    return traced


def spans_named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [
        span
        for span in spans
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def all_attribute_text(spans: list[ReadableSpan]) -> str:
    return " ".join(f"{key}={value}" for span in spans for key, value in span.attributes.items())


def test_a_catalog_page_is_one_request_span_with_a_child_span_per_statement(
    traced_app, small_catalog, exporter
):
    response = traced_app.test_client().get(
        "/datasets?q=reviews", headers={"X-Request-ID": "req-catalog-1"}
    )
    assert response.status_code == 200
    spans = list(exporter.get_finished_spans())

    [page] = spans_named(spans, "catalog.browse")
    assert page.kind == SpanKind.SERVER
    assert page.parent is None
    assert page.attributes["http.request.method"] == "GET"
    assert page.attributes["http.route"] == "/datasets"
    assert page.attributes["url.path"] == "/datasets"  # no query string: search text stays out
    assert page.attributes["http.response.status_code"] == 200
    assert page.attributes["request_id"] == "req-catalog-1"
    assert page.status.status_code != StatusCode.ERROR

    statements = children(spans, page)
    assert statements, "no SQL statement spans under the request span"
    dialect = db.engine.dialect.name
    for statement in statements:
        assert statement.kind == SpanKind.CLIENT
        assert statement.context.trace_id == page.context.trace_id
        assert statement.attributes["db.system"] == dialect
        assert statement.attributes["request_id"] == "req-catalog-1"
        assert statement.attributes["db.operation"] == statement.name.split()[0]
        assert len(statement.attributes["db.statement"].split()) <= tracing.STATEMENT_WORDS
        assert page.start_time <= statement.start_time <= statement.end_time <= page.end_time
    assert any(s.attributes.get("db.sql.table") == "datasets" for s in statements)
    # Statements carry their text's first words, never the values bound to them.
    assert "reviews" not in all_attribute_text(spans)


def test_the_request_span_continues_a_trace_started_upstream(traced_app, exporter):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent_id = "00f067aa0ba902b7"
    response = traced_app.test_client().get(
        "/health", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
    )
    assert response.status_code == 200
    [health] = spans_named(list(exporter.get_finished_spans()), "ops.health")
    assert format(health.context.trace_id, "032x") == trace_id
    assert format(health.parent.span_id, "016x") == parent_id
    assert health.attributes["request_id"] == response.headers["X-Request-ID"]


def test_a_dataset_page_has_hub_child_spans_without_the_token_or_query(
    traced_app, small_catalog, hub, exporter
):
    hub.add_dataset("acme/movie-reviews", card="# Reviews\n", likes=12)
    with talking_to(traced_app, hub, HUB_ATTEMPTS=2, HUB_READ_TIMEOUT=0.5, HUB_BUDGET=1.5):
        response = traced_app.test_client().get(
            "/datasets/acme/movie-reviews", headers={"X-Request-ID": "req-dataset-1"}
        )
    assert response.status_code == 200
    assert any(entry.headers.get("Authorization") == f"Bearer {TOKEN}" for entry in hub.requests)
    spans = list(exporter.get_finished_spans())
    [page] = spans_named(spans, "datasets.show")
    assert page.attributes["http.route"] == "/datasets/<path:repo_id>"

    calls = [span for span in children(spans, page) if span.name == "hub GET"]
    assert len(calls) == hub.count() >= 1  # one span per call the fake Hub saw
    for call in calls:
        assert call.kind == SpanKind.CLIENT
        assert call.attributes["url.full"].startswith(hub.url + "/")
        assert "?" not in call.attributes["url.full"]
        assert call.attributes["request_id"] == "req-dataset-1"
    outcomes = {call.attributes["url.full"]: call.attributes["hub.outcome"] for call in calls}
    assert outcomes[f"{hub.url}/api/datasets/acme/movie-reviews"] == "ok"
    assert any(c.attributes.get("http.response.status_code") == 200 for c in calls)
    assert any(s.name.startswith("SELECT") for s in children(spans, page))
    assert TOKEN not in all_attribute_text(spans)


def test_a_failing_hub_call_is_a_failed_span_with_its_outcome(
    traced_app, small_catalog, hub, exporter
):
    hub.add_dataset("acme/movie-reviews")
    hub.fail("status", status=503)
    with talking_to(traced_app, hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=0.5, HUB_BUDGET=1.5):
        response = traced_app.test_client().get("/datasets/acme/movie-reviews")
    assert response.status_code < 500
    calls = spans_named(list(exporter.get_finished_spans()), "hub GET")
    assert calls
    assert {call.attributes["hub.outcome"] for call in calls} == {"unavailable"}
    assert all(call.status.status_code == StatusCode.ERROR for call in calls)


def touch_datasets(app, job, progress) -> dict:
    """A job that reads the catalog (so its span has a statement under it)."""
    return {"datasets": db.session.scalar(sa.select(sa.func.count(Dataset.id)))}


def stale_running_job() -> int:
    """A job whose worker died long ago: the job's page queues it again (a request queues it)."""
    long_ago = utcnow() - timedelta(hours=2)
    job = Job(
        kind="ops-trace",
        status=service.RUNNING,
        params={},
        done=0,
        message="Started.",
        claimed_by="thread:gone:1:jobs-worker",
        started_at=long_ago,
        heartbeat_at=long_ago,
    )
    db.session.add(job)
    db.session.commit()
    return job.id


@pytest.mark.parametrize("engine_name", ["inline", "thread"])
def test_a_job_run_is_a_span_with_the_id_of_the_request_that_queued_it(
    traced_app, exporter, monkeypatch, engine_name
):
    from tests.jobs.conftest import wait_for

    monkeypatch.setitem(service.HANDLERS, "ops-trace", touch_datasets)
    traced_app.config["JOBS_ENGINE"] = engine_name
    job_id = stale_running_job()
    response = traced_app.test_client().get(
        f"/jobs/{job_id}", headers={"X-Request-ID": f"req-job-{engine_name}"}
    )
    assert response.status_code == 200
    if engine_name == "thread":
        traced_app.extensions["jobs_engine"].start()
    wait_for(lambda: spans_named(list(exporter.get_finished_spans()), "job ops-trace"))
    spans = list(exporter.get_finished_spans())
    [job_span] = spans_named(spans, "job ops-trace")
    assert job_span.attributes["request_id"] == f"req-job-{engine_name}"
    assert job_span.attributes["job.id"] == job_id
    assert job_span.attributes["job.kind"] == "ops-trace"
    assert job_span.status.status_code != StatusCode.ERROR
    statements = children(spans, job_span)
    assert any(s.attributes.get("db.sql.table") == "datasets" for s in statements)
    assert all(s.attributes["request_id"] == f"req-job-{engine_name}" for s in statements)

    [page] = spans_named(spans, "jobs.show")
    if engine_name == "inline":  # run inside the request: a child of its span
        assert job_span.parent.span_id == page.context.span_id
    else:  # run later by the job thread: a trace of its own, found by the request id
        assert job_span.parent is None
        assert job_span.context.trace_id != page.context.trace_id
    assert db.session.get(Job, job_id, populate_existing=True).status == service.DONE


def failing_job(app, job, progress) -> dict:
    raise service.JobError("Nothing to do.")


def test_a_failed_job_is_a_failed_span(traced_app, exporter, monkeypatch):
    monkeypatch.setitem(service.HANDLERS, "ops-trace", failing_job)
    traced_app.config["JOBS_ENGINE"] = "inline"
    job_id = stale_running_job()
    assert traced_app.test_client().get(f"/jobs/{job_id}").status_code == 200
    [job_span] = spans_named(list(exporter.get_finished_spans()), "job ops-trace")
    assert job_span.status.status_code == StatusCode.ERROR
    assert [event.name for event in job_span.events] == ["exception"]


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"},
    ],
    ids=["unset", "none", "sdk-disabled"],
)
def test_tracing_is_off_by_default_and_costs_nothing(
    app, make_app, database_url, hub, monkeypatch, environ
):
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    tracing.disable()  # whatever an OTEL_* variable of the developer's shell switched on
    quiet = make_app(TestConfig(database_url))
    assert not tracing.enabled()
    assert "ops_tracing" not in quiet.extensions
    assert not request_started.has_receivers_for(quiet)
    with quiet.app_context():
        engine = db.engine
    assert not sa.event.contains(engine, "before_cursor_execute", tracing._before_statement)

    hub.add_dataset("acme/quiet")
    monkeypatch.setitem(service.HANDLERS, "ops-trace", touch_datasets)
    quiet.config["JOBS_ENGINE"] = "inline"
    job_id = stale_running_job()
    with talking_to(quiet, hub):
        client = quiet.test_client()
        assert client.get("/datasets?q=quiet").status_code == 200
        client.get("/datasets/acme/quiet")
        assert client.get(f"/jobs/{job_id}").status_code == 200
    assert hub.count() >= 1
    assert db.session.get(Job, job_id, populate_existing=True).status == service.DONE
    # Nothing was made: no provider, no tracer, the API's own no-op global left alone, and
    # the helpers hand back one shared do-nothing object.
    assert tracing._state.provider is None and tracing.tracer() is None
    assert not isinstance(trace.get_tracer_provider(), tracing_sdk_provider())
    assert tracing.span("anything") is tracing.hub_span("http://hub/x") is tracing._NO_SPAN


def tracing_sdk_provider():
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider


def test_the_environment_rule():
    assert tracing.wanted({}) == []
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": " "}) == []
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "Console"}) == ["console"]
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp,console"}) == ["otlp", "console"]
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "TRUE"}) == []
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}) == [
        "otlp"
    ]


def test_statement_summary_keeps_the_first_words_only():
    operation, table, first = tracing.statement_summary(
        "SELECT datasets.id, datasets.repo_id, datasets.pretty_name, datasets.description\n"
        "FROM datasets WHERE datasets.repo_id = ? LIMIT ? OFFSET ?"
    )
    assert (operation, table) == ("SELECT", "datasets")
    assert first == (
        "SELECT datasets.id, datasets.repo_id, datasets.pretty_name, datasets.description "
        "FROM datasets WHERE"
    )
    assert tracing.statement_summary('INSERT INTO "follows" (user_id) VALUES (%(u)s)')[:2] == (
        "INSERT",
        "follows",
    )
    assert tracing.statement_summary("UPDATE jobs SET done=? WHERE jobs.id = ?")[:2] == (
        "UPDATE",
        "jobs",
    )
    assert tracing.statement_summary("COMMIT")[:2] == ("COMMIT", None)


# --- The exporters the environment names, in a process of their own (as gunicorn runs it) ---

SCRIPT = """
import sys
from app import create_app
from app.config import TestConfig
from app.ops import tracing

app = create_app(TestConfig(sys.argv[1]))
response = app.test_client().get("/health", headers={"X-Request-ID": "req-subprocess"})
tracing.flush()
print("STATUS", response.status_code, flush=True)
"""


def run_app_process(tmp_path, **environ: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'otel.db'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_console_exporter_prints_the_spans(tmp_path):
    done = run_app_process(
        tmp_path, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="explorer-under-test"
    )
    assert done.returncode == 0, done.stderr
    assert "STATUS 200" in done.stdout
    assert '"name": "ops.health"' in done.stdout
    assert '"request_id": "req-subprocess"' in done.stdout
    assert '"service.name": "explorer-under-test"' in done.stdout


class Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Collector.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def test_the_otlp_exporter_sends_the_spans_to_the_collector(tmp_path):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = run_app_process(
            tmp_path,
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert "STATUS 200" in done.stdout
    [(path, content_type, body)] = Collector.received
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert b"ops.health" in body and b"req-subprocess" in body


def test_a_missing_otlp_package_is_a_log_line_not_a_crash(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # A path entry that makes `opentelemetry.exporter.otlp` unimportable, as on a machine
    # where the package is not installed.
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('opentelemetry.exporter.otlp'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    done = run_app_process(tmp_path, OTEL_TRACES_EXPORTER="otlp", PYTHONPATH=str(blocker))
    assert done.returncode == 0, done.stderr
    assert "STATUS 200" in done.stdout
    assert "opentelemetry-exporter-otlp-proto-http is not installed" in done.stderr
