"""/metrics: what it counts (read back from the endpoint itself) and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import TestConfig
from app.extensions import db
from app.hub.client import HubClient
from app.hub.errors import HubUnavailable
from app.jobs import service
from app.jobs.engines import InlineEngine
from app.models import HubCacheEntry
from tests.hub.conftest import hub, settings_for, talking_to  # noqa: F401  (fixtures)
from tests.semantic.conftest import topic_embedder  # noqa: F401  (the real model, once a run)

P = "dataset_explorer_"


class Samples(dict):
    """{(sample name, sorted labels): value} from one scrape."""

    def __call__(self, name: str, **labels: str) -> float:
        return self.get((P + name, tuple(sorted(labels.items()))), 0.0)


def scrape(client, **kwargs) -> Samples:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain")
    samples = Samples()
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_requests_are_counted_by_endpoint_name_and_status(client, small_catalog):
    before = scrape(client)
    client.get("/health")
    client.get("/health")
    assert client.get("/datasets?q=reviews").status_code == 200
    assert client.get("/no/such/page/unmatched-path-marker").status_code == 404
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return after(name, **labels) - before(name, **labels)

    health = {"endpoint": "ops.health", "method": "GET", "status": "200"}
    assert moved("http_requests_total", **health) == 2
    assert moved("http_request_duration_seconds_count", **health) == 2
    assert moved("http_request_duration_seconds_bucket", le="+Inf", **health) == 2
    browse = {"endpoint": "catalog.browse", "method": "GET", "status": "200"}
    assert moved("http_requests_total", **browse) == 1
    assert moved("http_request_duration_seconds_sum", **browse) > 0
    unmatched = {"endpoint": "none", "method": "GET", "status": "404"}
    assert moved("http_requests_total", **unmatched) == 1
    # Endpoint names only: a raw path would make one series per URL.
    endpoints = {dict(labels).get("endpoint") for _, labels in after if labels}
    assert not any(endpoint and "/" in endpoint for endpoint in endpoints)
    # Letters, not digits: a digit run can turn up inside any float sample.
    assert "unmatched-path-marker" not in client.get("/metrics").get_data(as_text=True)


def test_unknown_methods_share_one_label(client):
    before = scrape(client)
    client.open("/health", method="BREW")
    after = scrape(client)
    labels = {"endpoint": "none", "method": "other", "status": "405"}  # no route matched
    assert after("http_requests_total", **labels) - before("http_requests_total", **labels) == 1


def test_metrics_are_hidden_from_other_addresses(app, client):
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    unknown = client.get("/no-such-page", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert outside.status_code == 404
    # The very page any unknown address gets (but for its own "sign in and come back" link).
    page = outside.get_data(as_text=True).replace("/metrics", "/no-such-page")
    assert page == unknown.get_data(as_text=True)
    assert P not in outside.get_data(as_text=True)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.2"}).status_code == 200


def test_a_bearer_token_opens_metrics_from_anywhere(app, client):
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    app.config["METRICS_TOKEN"] = "scrape-token-of-some-length"
    try:
        good = {"Authorization": "Bearer scrape-token-of-some-length"}
        assert client.get("/metrics", headers=good, environ_base=outside).status_code == 200
        for wrong in ("Bearer scrape-token-of-some-lengt", "Basic scrape-token-of-some-length"):
            refused = client.get("/metrics", headers={"Authorization": wrong}, environ_base=outside)
            assert refused.status_code == 404
    finally:
        app.config["METRICS_TOKEN"] = None
    assert client.get("/metrics", headers=good, environ_base=outside).status_code == 404


def test_behind_a_trusted_proxy_the_real_client_address_decides(make_app, database_url):
    config = TestConfig(database_url)
    config.TRUSTED_PROXIES = 1  # nginx on the same host: every request comes from 127.0.0.1
    behind_nginx = make_app(config).test_client()

    def through_nginx(client_address: str) -> int:
        return behind_nginx.get(
            "/metrics",
            headers={"X-Forwarded-For": client_address},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        ).status_code

    assert through_nginx("203.0.113.7") == 404
    assert through_nginx("127.0.0.1") == 200


def test_metrics_allow_takes_networks_and_refuses_nonsense(make_app, database_url):
    config = TestConfig(database_url)
    config.METRICS_ALLOW = "10.0.0.0/8, 192.0.2.1"
    client = make_app(config).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404

    config.METRICS_ALLOW = "10.0.0.0/8, localhost"
    with pytest.raises(ValueError, match="localhost"):
        make_app(config)


def test_hub_calls_by_outcome_and_cache_hits(app, client, hub, small_catalog):  # noqa: F811
    hub.add_dataset("acme/movie-reviews", card="# Reviews\n\nFifty thousand reviews.\n")
    with talking_to(app, hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=0.5, HUB_BUDGET=1.5):
        start = scrape(client)
        assert client.get("/datasets/acme/movie-reviews").status_code == 200
        first = scrape(client)
        assert first("hub_calls_total", outcome="ok") > start("hub_calls_total", outcome="ok")
        misses = first("hub_cache_lookups_total", result="miss")
        assert misses > start("hub_cache_lookups_total", result="miss")
        assert first("hub_call_duration_seconds_count", outcome="ok") > start(
            "hub_call_duration_seconds_count", outcome="ok"
        )

        assert client.get("/datasets/acme/movie-reviews").status_code == 200
        second = scrape(client)
        assert second("hub_cache_lookups_total", result="hit") > first(
            "hub_cache_lookups_total", result="hit"
        )
        assert second("hub_calls_total", outcome="ok") == first("hub_calls_total", outcome="ok")

        for entry in db.session.query(HubCacheEntry):  # expired, and the Hub is down
            entry.fetched_at = datetime.now(UTC) - timedelta(days=2)
        db.session.commit()
        hub.fail("status", status=503)
        assert client.get("/datasets/acme/movie-reviews").status_code == 200
        third = scrape(client)
    assert third("hub_calls_total", outcome="unavailable") > second(
        "hub_calls_total", outcome="unavailable"
    )
    assert third("hub_cache_stale_served_total") > second("hub_cache_stale_served_total")


def test_the_circuit_breaker_state_is_a_gauge(client, hub):  # noqa: F811
    hub_client = HubClient(settings_for(hub, breaker_threshold=1, attempts=1))
    hub.fail("status", status=503)
    with pytest.raises(HubUnavailable):
        hub_client.dataset("acme/movie-reviews")
    assert scrape(client)("hub_circuit_breaker_open") == 1
    hub_client.reset()
    assert scrape(client)("hub_circuit_breaker_open") == 0


def test_job_queue_depth_and_durations_come_from_the_jobs_table(app, client, monkeypatch):
    monkeypatch.setitem(service.HANDLERS, "ops-probe", lambda app, job, progress: {"ok": True})
    waiting = service.enqueue(db.session, "ops-probe", {"n": 1})
    service.enqueue(db.session, "ops-probe", {"n": 2})
    samples = scrape(client)
    assert samples("jobs", kind="ops-probe", status="queued") == 2
    assert samples("jobs", kind="ops-probe", status="running") == 0
    assert samples("jobs", kind="embed", status="queued") == 0  # every kind has its series
    assert samples("jobs_oldest_queued_age_seconds") >= 0

    InlineEngine(app).dispatch(waiting.id)
    samples = scrape(client)
    assert samples("jobs", kind="ops-probe", status="queued") == 1
    done = {"kind": "ops-probe", "status": "done"}
    assert samples("job_duration_seconds_count", **done) == 1
    assert samples("job_duration_seconds_bucket", le="+Inf", **done) == 1
    assert samples("job_duration_seconds_bucket", le="60.0", **done) == 1


def test_embedding_batches_and_time(client, topic_embedder):  # noqa: F811
    before = scrape(client)
    topic_embedder.model.embed(["first text", "second text", "a third one"], batch_size=2)
    after = scrape(client)
    assert after("embedding_batches_total") - before("embedding_batches_total") == 2
    assert after("embedding_texts_total") - before("embedding_texts_total") == 3
    count = "embedding_batch_duration_seconds_count"
    assert after(count) - before(count) == 2
    total = "embedding_batch_duration_seconds_sum"
    assert after(total) > before(total)
