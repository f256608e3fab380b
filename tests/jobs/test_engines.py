"""The engines: a thread in the process, RQ on Redis, inline; and the real "embed" kind."""

from __future__ import annotations

import os
import signal
import time

import pytest
import sqlalchemy as sa

from app.config import TestConfig
from app.extensions import db
from app.jobs import engines, service, worker
from app.jobs.engines import InlineEngine, RQEngine, ThreadEngine, engine_for, submit
from app.models import Dataset, DatasetEmbedding, Job
from tests.jobs.conftest import read_job, wait_for

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
TEST_QUEUE = "dataset-explorer-test"


@pytest.fixture
def thread_engine(app):
    engine = ThreadEngine(app)
    engine.poll_seconds = 0.1
    yield engine
    engine.stop()


def test_the_thread_engine_runs_a_submitted_job(app, test_kinds, thread_engine, monkeypatch):
    monkeypatch.setitem(app.extensions, "jobs_engine", thread_engine)
    thread_engine.start()
    job = submit(app, "count", {})
    wait_for(lambda: read_job(db.session, job.id).status == "done")
    assert read_job(db.session, job.id).done == 1


def test_the_thread_engine_picks_up_jobs_queued_by_another_process(app, test_kinds, thread_engine):
    waiting = service.enqueue(db.session, "count", {})  # as `flask catalog import` would
    thread_engine.start()
    wait_for(lambda: read_job(db.session, waiting.id).status == "done")
    later = service.enqueue(db.session, "count", {"later": True})  # found by polling
    wait_for(lambda: read_job(db.session, later.id).status == "done")


def test_a_stopped_thread_engine_leaves_jobs_queued(app, test_kinds, monkeypatch):
    engine = ThreadEngine(app)
    monkeypatch.setitem(app.extensions, "jobs_engine", engine)
    job = submit(app, "count", {})
    assert not engine.running
    assert read_job(db.session, job.id).status == "queued"


def test_submit_reuses_a_waiting_job_without_dispatching_it_again(app, test_kinds, monkeypatch):
    dispatched = []

    class Recorder:
        name = "recorder"

        def dispatch(self, job_id: int) -> None:
            dispatched.append(job_id)

    monkeypatch.setitem(app.extensions, "jobs_engine", Recorder())
    first = submit(app, "count", {})
    again = submit(app, "count", {})
    assert again.id == first.id and dispatched == [first.id]


def test_the_web_process_starts_the_thread_engine_with_its_first_request(
    make_app, database_url, test_kinds
):
    config = TestConfig(database_url)
    config.JOBS_AUTOSTART = True
    config.JOBS_POLL_SECONDS = 0.1
    started = make_app(config)
    with started.app_context():
        job = service.enqueue(db.session, "count", {})
        engine = engine_for(started)
        assert not engine.running  # nothing runs in a process that serves no requests
        try:
            assert started.test_client().get("/health").status_code == 200
            assert engine.running
            wait_for(lambda: read_job(db.session, job.id).status == "done")
        finally:
            engine.stop()
            db.session.remove()


def test_the_engine_follows_the_settings(app, make_app, database_url):
    def name(**settings) -> str:
        config = TestConfig(database_url)
        for key, value in settings.items():
            setattr(config, key, value)
        return engine_for(make_app(config)).name

    assert name(JOBS_ENGINE=None, REDIS_URL=None) == "thread"
    assert name(JOBS_ENGINE=None, REDIS_URL=REDIS_TEST_URL) == "rq"
    assert name(JOBS_ENGINE="inline", REDIS_URL=REDIS_TEST_URL) == "inline"
    with pytest.raises(ValueError, match="JOBS_ENGINE must be one of"):
        name(JOBS_ENGINE="celery")
    with pytest.raises(ValueError, match="needs REDIS_URL"):
        name(JOBS_ENGINE="rq", REDIS_URL=None)


@pytest.fixture
def rq_queue(app, monkeypatch):
    """An RQ queue of our own on Redis db 14, emptied before and after."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue
    from rq.job import Job as RQJob

    connection = Redis.from_url(REDIS_TEST_URL)
    try:
        connection.ping()
    except RedisError as error:
        connection.close()
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but Redis at {REDIS_TEST_URL} is unreachable: {error}")
        pytest.skip(f"Redis at {REDIS_TEST_URL} is unreachable ({error}); REQUIRE_REDIS=1 fails")
    queue = Queue(TEST_QUEUE, connection=connection)

    def clean() -> None:
        queue.empty()
        for registry in (
            queue.finished_job_registry,
            queue.failed_job_registry,
            queue.started_job_registry,
        ):
            for job_id in registry.get_job_ids():
                RQJob.fetch(job_id, connection=connection).delete()

    clean()
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setitem(app.config, "JOBS_QUEUE", TEST_QUEUE)
    monkeypatch.setattr(worker, "_app", app)  # the worker runs on the test app and database
    engine = RQEngine(app)
    monkeypatch.setitem(app.extensions, "jobs_engine", engine)
    yield queue
    clean()
    connection.close()
    engine.queue().connection.close()


def work_off(queue) -> None:
    """Run what is queued in this process, as `rq worker --burst` would."""
    from rq import SimpleWorker

    # The worker takes over SIGINT and SIGTERM (warm shutdown): give them back to pytest.
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def test_rq_runs_a_submitted_job_once(app, test_kinds, rq_queue):
    job = submit(app, "count", {})
    assert read_job(db.session, job.id).status == "queued"
    assert rq_queue.count == 1
    engines.engine_for(app).dispatch(job.id)  # handed over twice: still run once
    work_off(rq_queue)
    done = read_job(db.session, job.id)
    assert (done.status, done.done, done.result) == ("done", 1, {"ran": True})
    assert done.claimed_by.startswith("rq:")
    assert rq_queue.count == 0
    assert len(rq_queue.finished_job_registry.get_job_ids()) == 2  # the second did nothing


def test_rq_records_a_failing_job_in_words(app, test_kinds, rq_queue):
    job = submit(app, "broken", {})
    work_off(rq_queue)
    failed = read_job(db.session, job.id)
    assert failed.status == "failed" and "RuntimeError" in failed.message


def test_rq_unreachable_leaves_the_job_queued(app, test_kinds, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setitem(app.extensions, "jobs_engine", RQEngine(app))
    with caplog.at_level("WARNING"):
        job = submit(app, "count", {})
    assert read_job(db.session, job.id).status == "queued"
    assert "stays queued" in caplog.text


def test_embed_stores_a_vector_per_dataset(app, small_catalog, app_embedder, monkeypatch):
    monkeypatch.setitem(app.extensions, "jobs_engine", InlineEngine(app))
    job = submit(app, "embed", {})
    done = read_job(db.session, job.id)
    assert done.status == "done", done.message
    assert (done.done, done.total) == (45, 45)
    assert done.result == {"embedded": 45, "unchanged": 0, "model_id": app_embedder.model_id}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DatasetEmbedding)) == 45
    again = submit(app, "embed", {})
    assert read_job(db.session, again.id).result["unchanged"] == 45


def test_embed_can_be_limited_to_some_datasets(app, small_catalog, app_embedder, monkeypatch):
    monkeypatch.setitem(app.extensions, "jobs_engine", InlineEngine(app))
    ids = list(db.session.scalars(sa.select(Dataset.id).order_by(Dataset.id).limit(3)))
    job = submit(app, "embed", {"dataset_ids": ids})
    done = read_job(db.session, job.id)
    assert (done.status, done.done, done.total) == ("done", 3, 3)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DatasetEmbedding)) == 3


def test_topics_without_embeddings_fails_in_words(app, app_embedder, monkeypatch):
    monkeypatch.setitem(app.extensions, "jobs_engine", InlineEngine(app))
    job = submit(app, "topics", {})
    failed = read_job(db.session, job.id)
    assert failed.status == "failed"
    assert "Traceback" not in failed.message and "unexpected" not in failed.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


def test_the_thread_engine_stops_when_its_app_lets_go_of_the_database(
    app, make_app, database_url, test_kinds
):
    config = TestConfig(database_url)
    config.JOBS_POLL_SECONDS = 60  # after its first look, the thread waits without a connection
    started = make_app(config)
    with started.app_context():
        job_id = service.enqueue(db.session, "count", {}).id
    engine = ThreadEngine(started)
    engine.start()
    assert engine.running
    with started.app_context():
        wait_for(lambda: read_job(db.session, job_id).status == "done")  # the first look is over
        time.sleep(0.5)  # and its session handed back (right after the job's last commit)
        db.session.remove()
        db.engine.dispose()  # what shutting an app down (and make_app's clean-up) does
    wait_for(lambda: not engine.running, timeout=5)
