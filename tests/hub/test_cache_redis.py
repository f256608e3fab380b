"""Redis in front of the database cache of Hub answers (REDIS_URL): an answer one worker fetched
is served to every other worker from Redis, without reading the database's cache table or
asking the Hub; it expires with the cache's TTL; Redis gone or frozen never breaks a page; and
the database still serves the last good answer when the Hub fails.

Each "worker" is an app of its own on the same database and Redis, as under gunicorn. Uses
Redis database 10 at 127.0.0.1:6379 (flushed before and after each test), and private
redis-servers for the outages; skipped when there is no Redis."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import redis
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import event

from app.config import TestConfig
from app.extensions import db
from app.hub import redis_cache
from app.hub.cache import peek_many
from app.models import HubCacheEntry
from tests.faults.conftest import RedisServer, free_port

REDIS_URL = os.environ.get("TEST_REDIS_CACHE_URL", "redis://127.0.0.1:6379/10")
PAGE = "/datasets/acme/movie-reviews"
CARD = "---\nlicense: mit\npretty_name: Reviews\n---\n# Reviews\n\nFifty thousand reviews.\n"
CARD_HTML = '<div class="card-body" hx-disable><h3>Reviews</h3>'
ANSWER_WITHIN = 3.0  # seconds for a page with Redis gone; a stuck Redis would take forever


@pytest.fixture
def shared_redis() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def reviews(hub, small_catalog):
    return hub.add_dataset("acme/movie-reviews", card=CARD, likes=12)


@pytest.fixture
def worker(make_app, database_url, hub):
    """Build a "worker": an app on the test database, talking to the fake Hub and to Redis."""

    def build(redis_url: str | None = REDIS_URL, **config) -> Flask:
        settings = TestConfig(database_url)
        values = dict(
            REDIS_URL=redis_url,
            HUB_CACHE_REDIS=True,
            HF_ENDPOINT=hub.url,
            HF_DATASETS_SERVER=hub.url,
            HUB_ATTEMPTS=2,
            HUB_READ_TIMEOUT=0.5,
            HUB_BUDGET=1.5,
        )
        values.update(config)
        for name, value in values.items():
            setattr(settings, name, value)
        return make_app(settings)

    return build


@contextmanager
def cache_table_reads(app: Flask) -> Iterator[list[str]]:
    """The SQL statements `app` sends that touch the hub_cache table, while the block runs."""
    statements: list[str] = []

    def seen(_connection, _cursor, statement, *_args) -> None:
        if "hub_cache" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def redis_lookups(result: str) -> float:
    value = REGISTRY.get_sample_value(
        "dataset_explorer_hub_cache_redis_lookups_total", {"result": result}
    )
    return value or 0.0


def hub_keys(connection: redis.Redis) -> set[str]:
    return {key.decode() for key in connection.keys(redis_cache.PREFIX + "*")}


def likes(body: str) -> str | None:
    match = re.search(r"<dt>Likes</dt><dd>(\d+)</dd>", body)
    return match.group(1) if match else None


def test_an_answer_one_worker_fetched_is_served_to_another_from_redis(
    app, reviews, hub, worker, shared_redis
):
    first, second = worker(), worker()
    assert first.test_client().get(PAGE).status_code == 200
    assert {f"{redis_cache.PREFIX}{kind}:acme/movie-reviews" for kind in ("detail", "card")} <= (
        hub_keys(shared_redis)
    )
    hits = redis_lookups("hit")

    hub.clear_log()
    with cache_table_reads(second) as reads:
        response = second.test_client().get(PAGE)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert CARD_HTML in body and likes(body) == "12"
    assert "The Hub is unreachable" not in body
    assert hub.count() == 0  # not asked
    assert reads == []  # nor the database's cache table
    assert redis_lookups("hit") > hits


def test_a_report_reads_many_answers_in_one_round_trip_and_the_database_only_for_the_rest(
    app, reviews, hub, worker, shared_redis
):
    first, second = worker(), worker()
    first.test_client().get(PAGE)
    keys = ["detail:acme/movie-reviews", "card:acme/movie-reviews", "detail:acme/not-fetched"]
    with second.app_context():
        with cache_table_reads(second) as reads:
            from_redis = peek_many(db.session, keys[:2])
        assert reads == []
        assert from_redis["card:acme/movie-reviews"].value == {"text": CARD}
        assert from_redis["detail:acme/movie-reviews"].fetched_at is not None

        shared_redis.delete(redis_cache.PREFIX + "card:acme/movie-reviews")  # evicted
        with cache_table_reads(second) as reads:
            answers = peek_many(db.session, keys)
        assert len(reads) == 1  # one query, for the keys Redis did not hold
        assert answers["card:acme/movie-reviews"].value == {"text": CARD}  # from the database
        assert answers["detail:acme/not-fetched"].problem == "not fetched yet"
        db.session.remove()


def test_after_the_ttl_the_answer_is_fetched_again_and_shared_again(
    app, reviews, hub, worker, shared_redis
):
    first, second = worker(HUB_CACHE_TTL=1), worker(HUB_CACHE_TTL=1)
    first.test_client().get(PAGE)
    assert 0 < shared_redis.pttl(redis_cache.PREFIX + "detail:acme/movie-reviews") <= 1000
    hub.update("acme/movie-reviews", likes=40)
    hub.clear_log()
    assert likes(second.test_client().get(PAGE).get_data(as_text=True)) == "12"  # still fresh
    assert hub.count() == 0

    time.sleep(1.2)
    assert likes(second.test_client().get(PAGE).get_data(as_text=True)) == "40"
    assert hub.count(r"^/api/datasets/acme/movie-reviews$") == 1
    hub.clear_log()
    assert likes(first.test_client().get(PAGE).get_data(as_text=True)) == "40"
    assert hub.count() == 0  # the first worker reads what the second fetched
    db.session.expire_all()
    stored = db.session.get(HubCacheEntry, "detail:acme/movie-reviews")
    assert datetime.now(UTC) - stored.fetched_at.replace(tzinfo=UTC) < timedelta(seconds=2)


def test_an_answer_fresh_in_the_database_but_evicted_from_redis_is_put_back(
    app, reviews, hub, worker, shared_redis
):
    first = worker()
    first.test_client().get(PAGE)
    shared_redis.flushdb()  # Redis restarted, or evicted everything
    hub.clear_log()
    assert first.test_client().get(PAGE).status_code == 200
    assert hub.count() == 0  # fresh in the database
    key = redis_cache.PREFIX + "detail:acme/movie-reviews"
    assert key in hub_keys(shared_redis)
    assert 0 < shared_redis.pttl(key) <= 3600 * 1000


def test_with_the_hub_down_and_redis_empty_the_database_serves_the_last_answer(
    app, reviews, hub, worker, shared_redis
):
    first = worker()
    first.test_client().get(PAGE)
    shared_redis.flushdb()
    for entry in db.session.query(HubCacheEntry):
        entry.fetched_at = datetime.now(UTC) - timedelta(days=2)
    db.session.commit()
    hub.fail("status", status=503)

    response = worker().test_client().get(PAGE)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "The Hub is unreachable: showing data from" in body and "2 days ago" in body
    assert CARD_HTML in body
    assert hub_keys(shared_redis) == set()  # a failure is never cached, nor the stale answer


def test_with_hub_cache_redis_off_redis_is_not_used_for_hub_answers(
    app, reviews, hub, worker, shared_redis
):
    off = worker(HUB_CACHE_REDIS=False)
    assert redis_cache.EXTENSION_KEY not in off.extensions
    assert off.test_client().get(PAGE).status_code == 200
    assert hub_keys(shared_redis) == set()
    hub.clear_log()
    with cache_table_reads(off) as reads:
        assert off.test_client().get(PAGE).status_code == 200
    assert reads != [] and hub.count() == 0  # the database cache, as without REDIS_URL


def timed_page(app: Flask) -> tuple[int, str, float]:
    started = time.monotonic()
    response = app.test_client().get(PAGE)
    return response.status_code, response.get_data(as_text=True), time.monotonic() - started


def redis_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.hub.redis_cache"]


def test_with_nothing_listening_at_redis_url_pages_answer_from_the_database_and_the_hub(
    app, reviews, hub, worker, caplog
):
    caplog.set_level(logging.WARNING, logger="app.hub.redis_cache")
    nowhere = worker(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status, body, took = timed_page(nowhere)  # asks the Hub, stores in the database
    assert status == 200 and CARD_HTML in body and took < ANSWER_WITHIN
    hub.clear_log()
    for _ in range(3):
        status, body, took = timed_page(nowhere)
        assert status == 200 and likes(body) == "12" and took < ANSWER_WITHIN
    assert hub.count() == 0  # served from the database
    assert len(redis_warnings(caplog)) == 1  # said once, not per lookup or per request


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGCONT)
        server.kill()


def test_a_frozen_redis_costs_one_short_wait_then_is_left_alone_until_it_answers(
    app, reviews, hub, worker, private_redis, caplog
):
    caplog.set_level(logging.WARNING, logger="app.hub.redis_cache")
    web = worker(redis_url=private_redis.url)
    # Left alone for half a second after a failure, so that the test sees it come back.
    web.extensions[redis_cache.EXTENSION_KEY] = redis_cache.RedisCache(private_redis.url, pause=0.5)
    assert timed_page(web)[0] == 200
    private_redis.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers

    started = time.monotonic()
    for _ in range(3):
        status, body, took = timed_page(web)
        assert status == 200 and CARD_HTML in body and "The Hub is unreachable" not in body
    # One lookup waits out the timeout (0.5 s); the others skip Redis for the pause.
    assert time.monotonic() - started < ANSWER_WITHIN
    assert len(redis_warnings(caplog)) == 1

    private_redis.process.send_signal(signal.SIGCONT)
    connection = redis.Redis.from_url(private_redis.url, socket_timeout=1)
    connection.flushdb()
    time.sleep(0.6)  # the pause is over
    assert timed_page(web)[0] == 200
    assert redis_cache.PREFIX + "detail:acme/movie-reviews" in hub_keys(connection)
    connection.close()
