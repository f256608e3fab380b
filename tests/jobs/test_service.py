"""Queueing, claiming (exactly once, across threads and processes), progress and failure."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.jobs import service
from app.jobs.engines import run_in_context
from app.models import Job
from tests.jobs.conftest import count_run, read_job


def test_enqueue_reuses_an_identical_waiting_job(app, test_kinds):
    first = service.enqueue(db.session, "count", {"dataset_ids": [1, 2]})
    again = service.enqueue(db.session, "count", {"dataset_ids": [1, 2]})
    other = service.enqueue(db.session, "count", {})
    assert again.id == first.id
    assert other.id != first.id
    assert (first.status, first.done, first.total) == ("queued", 0, None)


def test_a_job_that_started_is_not_reused(app, test_kinds):
    first = service.enqueue(db.session, "count", {})
    assert service.claim(db.session, first.id, "w1")
    assert service.enqueue(db.session, "count", {}).id != first.id


def test_unknown_kinds_are_refused(app):
    with pytest.raises(ValueError, match="unknown job kind"):
        service.enqueue(db.session, "no-such-kind", {})


def test_a_claim_succeeds_once(app, test_kinds):
    job = service.enqueue(db.session, "count", {})
    assert service.claim(db.session, job.id, "worker-a") is True
    assert service.claim(db.session, job.id, "worker-b") is False
    claimed = read_job(db.session, job.id)
    assert (claimed.status, claimed.claimed_by) == ("running", "worker-a")
    assert claimed.started_at is not None


def test_two_threads_racing_run_each_job_once(app, test_kinds):
    ids = [service.enqueue(db.session, "count", {"n": n}).id for n in range(8)]
    barrier = threading.Barrier(2)
    ran: dict[str, list[int]] = {"a": [], "b": []}

    def work(name: str) -> None:
        for job_id in ids:
            barrier.wait(timeout=10)
            if run_in_context(app, job_id, f"thread-{name}"):
                ran[name].append(job_id)

    threads = [threading.Thread(target=work, args=(name,)) for name in ran]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(ran["a"] + ran["b"]) == ids  # every job by exactly one of them
    for job_id in ids:
        job = read_job(db.session, job_id)
        assert (job.status, job.done, job.result) == ("done", 1, {"ran": True})


def compete(database_url: str, job_ids: list[int], barrier, results) -> None:
    """In a separate process: the app on the same database, racing for each job."""
    from app import create_app
    from app.config import TestConfig

    service.HANDLERS["count"] = count_run
    app = create_app(TestConfig(database_url))
    name = multiprocessing.current_process().name
    for job_id in job_ids:
        barrier.wait(timeout=30)
        if run_in_context(app, job_id, name):
            results.put(job_id)
    with app.app_context():
        db.engine.dispose()


def test_two_processes_racing_run_each_job_once(app, test_kinds, database_url):
    ids = [service.enqueue(db.session, "count", {"n": n}).id for n in range(5)]
    context = multiprocessing.get_context("spawn")  # no inherited connections or threads
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(target=compete, args=(database_url, ids, barrier, results), name=name)
        for name in ("process-a", "process-b")
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    ran = sorted(results.get(timeout=5) for _ in ids)
    assert results.empty()
    assert ran == ids
    for job_id in ids:
        job = read_job(db.session, job_id)
        assert (job.status, job.done) == ("done", 1)
        assert job.claimed_by in ("process-a", "process-b")
    results.close()
    results.join_thread()


def test_progress_is_visible_to_another_session_while_the_job_runs(app, stepper, other_session):
    job_id = service.enqueue(db.session, "steps", {}).id
    runner = threading.Thread(target=run_in_context, args=(app, job_id, "stepper"))
    runner.start()
    try:
        seen = []
        for _ in range(3):
            assert stepper.reported.acquire(timeout=10)
            job = read_job(other_session, job_id)
            seen.append((job.status, job.done, job.total, job.message))
            stepper.proceed.release()
    finally:
        runner.join(timeout=10)
    assert seen == [
        ("running", 1, 3, "Step 1 of 3"),
        ("running", 2, 3, "Step 2 of 3"),
        ("running", 3, 3, "Step 3 of 3"),
    ]
    done = read_job(other_session, job_id)
    assert (done.status, done.done, done.result) == ("done", 3, {"steps": 3})
    assert done.finished_at is not None


def test_progress_reports_only_moving_done_are_spaced_out(app, test_kinds, other_session):
    job = service.enqueue(db.session, "count", {})
    service.claim(db.session, job.id, "w")
    progress = service.JobProgress(db.engine, job.id, min_interval=60)
    progress(1, 100, "Embedding")
    progress(2)  # too soon after the last write: kept in memory only
    assert read_job(other_session, job.id).done == 1
    progress(3, message="Labelling")  # a new message is always written
    assert read_job(other_session, job.id).done == 3
    progress(100)  # reaching the total is always written
    assert read_job(other_session, job.id).done == 100


def test_a_failing_job_keeps_a_readable_message_and_logs_the_traceback(app, test_kinds, caplog):
    job = service.enqueue(db.session, "broken", {})
    with caplog.at_level("ERROR"):
        assert run_in_context(app, job.id, "w") is True
    failed = read_job(db.session, job.id)
    assert failed.status == "failed"
    assert failed.message == (
        "The job stopped on an unexpected error (RuntimeError); the details are in the server log."
    )
    assert "hunter2" not in failed.message and "Traceback" not in failed.message
    assert failed.finished_at is not None
    assert "Traceback" in caplog.text and "hunter2" in caplog.text  # for the operator


def test_a_job_error_says_its_own_message(app, test_kinds):
    job = service.enqueue(db.session, "refused", {})
    run_in_context(app, job.id, "w")
    assert read_job(db.session, job.id).message == "There is nothing to embed yet."


def test_a_kind_no_longer_known_fails_in_words(app, test_kinds, monkeypatch):
    job = service.enqueue(db.session, "count", {})
    monkeypatch.delitem(service.HANDLERS, "count")
    run_in_context(app, job.id, "w")
    failed = read_job(db.session, job.id)
    assert failed.status == "failed"
    assert "does not know how to run “count” jobs" in failed.message


def test_latest_is_the_newest_of_a_kind(app, test_kinds):
    service.enqueue(db.session, "count", {"n": 1})
    newest = service.enqueue(db.session, "count", {"n": 2})
    service.enqueue(db.session, "broken", {})
    assert service.latest(db.session, "count").id == newest.id
    assert service.latest(db.session, "embed") is None


def test_the_topics_kind_is_registered_and_imports_lazily(app):
    assert "topics" in service.HANDLERS and "embed" in service.HANDLERS


def test_a_job_row_left_half_written_by_its_handler_is_rolled_back(app, monkeypatch):
    def half_then_crash(app, job, progress):
        db.session.execute(sa.update(Job).where(Job.id == job.id).values(message="half"))
        raise RuntimeError("boom")

    monkeypatch.setitem(service.HANDLERS, "half", half_then_crash)
    job = service.enqueue(db.session, "half", {})
    run_in_context(app, job.id, "w")
    with Session(db.engine) as session:
        assert session.get(Job, job.id).message.startswith("The job stopped")
