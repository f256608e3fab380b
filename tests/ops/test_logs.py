"""Request ids (taken or made, echoed, carried into Hub calls and jobs), JSON log lines, and
no secrets in what is logged."""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from app.config import TestConfig
from app.extensions import db
from app.jobs import engines, service
from app.models import HubCacheEntry
from app.ops.logs import JsonFormatter, TextFormatter, add_secrets, redact
from tests.conftest import Auth
from tests.hub.conftest import hub, talking_to  # noqa: F401  (fixtures)
from tests.jobs.conftest import wait_for

HEX_ID = re.compile(r"^[0-9a-f]{32}$")
REDIS_URL = "redis://127.0.0.1:6379/4"  # this area's Redis database


@contextmanager
def config_values(app, **values):
    saved = {key: app.config.get(key) for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


def request_lines(caplog) -> list[dict]:
    """The request log lines, as the JSON formatter writes them."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "app.request"
    ]


def test_a_safe_incoming_request_id_is_kept_and_echoed(client):
    for incoming in ("0123456789abcdef0123456789abcdef", "web-1:req.42_x", "x" * 128):
        response = client.get("/health", headers={"X-Request-ID": incoming})
        assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["", "has space", "x" * 129, 'quote"', "new\u2028line", "<script>", "a/b", "é"],
)
def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(client, incoming):
    response = client.get("/health", headers={"X-Request-ID": incoming})
    assert HEX_ID.match(response.headers["X-Request-ID"])


def test_every_request_gets_its_own_id_also_on_errors(client):
    ids = {client.get(url).headers["X-Request-ID"] for url in ("/health", "/health", "/nope")}
    assert len(ids) == 3 and all(HEX_ID.match(value) for value in ids)


def test_a_json_line_per_request_with_the_request_id(app, client, small_catalog, caplog):
    caplog.set_level(logging.INFO)
    with config_values(app, LOG_REQUESTS="1"):
        response = client.get("/datasets?q=reviews", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 200
    [line] = request_lines(caplog)
    assert line["request_id"] == "trace-1" == response.headers["X-Request-ID"]
    assert line["level"] == "INFO" and line["logger"] == "app.request"
    assert line["method"] == "GET" and line["path"] == "/datasets"  # no query string
    assert line["status"] == 200 and line["endpoint"] == "catalog.browse"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["message"] == "GET /datasets 200"
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_no_request_lines_unless_asked_for_in_text_mode(app, client, caplog):
    caplog.set_level(logging.INFO)
    with config_values(app, LOG_REQUESTS="", LOG_FORMAT="text"):
        client.get("/health")
    assert request_lines(caplog) == []
    with config_values(app, LOG_REQUESTS="", LOG_FORMAT="json"):
        client.get("/health")
    assert len(request_lines(caplog)) == 1


def test_secret_path_parts_are_masked(app, client, caplog):
    caplog.set_level(logging.INFO)
    with config_values(app, LOG_REQUESTS="1"):
        client.get("/shared/SecretShareToken0123456789")
        client.get("/feed/SecretFeedToken0123456789.atom")
    paths = [line["path"] for line in request_lines(caplog)]
    assert paths == ["/shared/[redacted]", "/feed/[redacted].atom"]
    assert "SecretShareToken" not in caplog.text and "SecretFeedToken" not in caplog.text


def test_log_lines_inside_a_request_carry_its_id(make_app, database_url, caplog):
    caplog.set_level(logging.INFO)
    app = make_app(TestConfig(database_url))

    @app.get("/_ops_test_logs")
    def speak():
        logging.getLogger("app.test").warning("something happened")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("app.test").exception("it failed")
        return "ok"

    app.test_client().get("/_ops_test_logs", headers={"X-Request-ID": "req-inside"})
    records = [r for r in caplog.records if r.name == "app.test"]
    lines = [json.loads(JsonFormatter().format(record)) for record in records]
    assert [line["request_id"] for line in lines] == ["req-inside", "req-inside"]
    assert lines[0]["path"] == "/_ops_test_logs" and lines[0]["level"] == "WARNING"
    assert "ValueError: boom" in lines[1]["exception"]
    text = TextFormatter().format(records[0])
    assert "[req-inside]" in text and "WARNING app.test" in text


def test_the_request_id_goes_along_to_the_hub(app, client, hub, small_catalog):  # noqa: F811
    hub.add_dataset("acme/movie-reviews", card="# Reviews\n")
    with talking_to(app, hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=0.5, HUB_BUDGET=1.5):
        response = client.get(
            "/datasets/acme/movie-reviews", headers={"X-Request-ID": "trace-to-hub"}
        )
    assert response.status_code == 200
    assert hub.requests, "the page asked the Hub nothing"
    assert {entry.headers.get("X-Request-Id") for entry in hub.requests} == {"trace-to-hub"}


def test_the_request_line_says_how_long_it_waited_on_the_hub(
    app,
    client,
    hub,  # noqa: F811
    small_catalog,
    caplog,
):
    hub.add_dataset("acme/slow-reviews", card="# Reviews\n")
    hub.fail("latency", seconds=0.3, times=1)
    caplog.set_level(logging.INFO)
    with (
        config_values(app, LOG_REQUESTS="1"),
        talking_to(app, hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=2, HUB_BUDGET=4),
    ):
        assert client.get("/datasets/acme/slow-reviews").status_code == 200
        asked = len(hub.requests)
        assert client.get("/datasets/acme/slow-reviews").status_code == 200  # from the cache
        assert client.get("/health").status_code == 200
    cold, warm, health = request_lines(caplog)
    assert cold["hub_calls"] == asked >= 1
    assert 300 <= cold["hub_ms"] <= cold["duration_ms"]
    assert len(hub.requests) == asked  # the second answer came from the cache...
    assert "hub_calls" not in warm and "hub_ms" not in warm  # ...and says it asked nothing
    assert "hub_calls" not in health


def test_hub_calls_outside_a_request_carry_no_id(hub):  # noqa: F811
    from app.hub.client import HubClient
    from tests.hub.conftest import settings_for

    hub.add_dataset("acme/quiet")
    HubClient(settings_for(hub)).dataset("acme/quiet")
    assert all("X-Request-Id" not in entry.headers for entry in hub.requests)


def speaking_job(app, job, progress) -> dict:
    logging.getLogger("app.jobs.test").info("job %s speaking", job.id)
    return {}


def queue_in_a_request(app, request_id: str):
    """Queue a job the way a view does, inside a request with this X-Request-ID."""
    with app.test_request_context("/", headers={"X-Request-ID": request_id}):
        app.preprocess_request()
        return engines.submit(app, "ops-speak", {})


@pytest.mark.parametrize("engine_kind", ["inline", "thread"])
def test_a_job_logs_with_the_id_of_the_request_that_queued_it(
    app, monkeypatch, caplog, engine_kind
):
    caplog.set_level(logging.INFO)
    monkeypatch.setitem(service.HANDLERS, "ops-speak", speaking_job)
    engine = engines.ENGINES[engine_kind](app)
    monkeypatch.setitem(app.extensions, "jobs_engine", engine)
    job = queue_in_a_request(app, f"req-{engine_kind}")
    if engine_kind == "thread":
        engine.start()
        try:
            wait_for(lambda: any(r.name == "app.jobs.test" for r in caplog.records))
        finally:
            engine.stop()
    [record] = [r for r in caplog.records if r.name == "app.jobs.test"]
    assert record.getMessage() == f"job {job.id} speaking"
    assert record.request_id == f"req-{engine_kind}"


def test_rq_jobs_carry_the_request_id_to_the_worker(app, monkeypatch):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    monkeypatch.setitem(service.HANDLERS, "ops-speak", speaking_job)
    queue_name = f"ops-test-{uuid.uuid4().hex}"
    with config_values(app, REDIS_URL=REDIS_URL, JOBS_QUEUE=queue_name):
        engine = engines.RQEngine(app)
    monkeypatch.setitem(app.extensions, "jobs_engine", engine)
    try:
        job = queue_in_a_request(app, "req-rq")
        [queued] = engine.queue().jobs
        assert queued.func_name == engines.RQ_FUNCTION
        assert queued.args == (job.id, "req-rq")
    finally:
        engine.queue().delete(delete_jobs=True)


PASSWORD = "correct horse battery staple 77"
WRONG_PASSWORD = "wrong horse battery staple 78"
TOKEN = "hf_ObservabilityTestToken_9f8e7d6c5b4a"


def test_no_hub_token_or_password_in_the_logs(app, client, hub, small_catalog, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    hub.tokens = {TOKEN}  # the fake Hub refuses any other token
    hub.add_dataset("acme/movie-reviews", card="# Reviews\n")
    auth = Auth(client)
    with (
        config_values(app, LOG_REQUESTS="1", HUGGINGFACE_API_TOKEN=TOKEN),
        talking_to(app, hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=0.5, HUB_BUDGET=1.5),
    ):
        assert auth.register("watcher@example.com", PASSWORD).status_code == 303
        auth.logout()
        assert auth.login("watcher@example.com", WRONG_PASSWORD).status_code == 422
        assert auth.login("watcher@example.com", PASSWORD).status_code == 303
        assert client.get("/datasets/acme/movie-reviews").status_code == 200
        for entry in db.session.query(HubCacheEntry):  # the Hub fails next time: warnings
            entry.fetched_at = datetime.now(UTC) - timedelta(days=2)
        db.session.commit()
        hub.fail("truncated", declare_full=True)  # the connection breaks mid-answer
        assert client.get("/datasets/acme/movie-reviews").status_code == 200

    assert any(e.headers.get("Authorization") == f"Bearer {TOKEN}" for e in hub.requests)
    assert any(r.levelno >= logging.WARNING for r in caplog.records)  # failures were logged
    assert len(request_lines(caplog)) >= 6
    json_formatter, text_formatter = JsonFormatter(), TextFormatter()
    for record in caplog.records:
        written = (
            record.getMessage(),
            repr(record.args),
            json_formatter.format(record),
            text_formatter.format(record),
        )
        for secret in (TOKEN, PASSWORD, WRONG_PASSWORD):
            assert not any(secret in text for text in written), (secret, record.getMessage())


def test_redaction_is_the_last_line_of_defence():
    add_secrets("a-configured-secret-value")
    assert redact("sent Authorization: Bearer abc.DEF-123") == (
        "sent Authorization: Bearer [redacted]"
    )
    assert redact("postgresql://app:s3cr3t@db:5432/x") == "postgresql://app:[redacted]@db:5432/x"
    assert redact("token a-configured-secret-value here") == "token [redacted] here"
    assert redact("nothing secret") == "nothing secret"


def test_an_unknown_log_format_is_refused(make_app, database_url):
    config = TestConfig(database_url)
    config.LOG_FORMAT = "xml"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        make_app(config)


def test_lines_outside_a_request_say_they_have_no_request_id(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("app.cli").info("a command-line line")
    [record] = [r for r in caplog.records if r.name == "app.cli"]
    assert record.request_id is None
    assert "request_id" not in json.loads(JsonFormatter().format(record))
    assert "INFO app.cli [-] a command-line line" in TextFormatter().format(record)
    assert record.request_id is None  # formatting as text did not change the record
