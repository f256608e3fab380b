"""A job whose worker died (SIGKILL) is queued again once its heartbeat stops, and runs."""

from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import timedelta

import sqlalchemy as sa

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.jobs import service
from app.jobs.engines import ThreadEngine, run_in_context
from app.models import Job, utcnow
from tests.jobs.conftest import read_job, wait_for


def hang_in_child(app, job, progress) -> dict:
    """Hangs in the child process (which the test kills); finishes anywhere else."""
    if os.environ.get("JOB_TEST_CHILD") == "1":
        progress(1, 10, "Working")
        signal.pause()
    return {"finished_by": os.getpid()}


def run_and_hang(database_url: str, job_id: int) -> None:
    os.environ["JOB_TEST_CHILD"] = "1"
    config = TestConfig(database_url)
    config.JOBS_HEARTBEAT_SECONDS = 0.1
    app = create_app(config)
    service.HANDLERS["hang"] = hang_in_child
    run_in_context(app, job_id, "doomed-worker")


def test_a_killed_workers_job_is_queued_again_and_run(app, database_url, monkeypatch):
    monkeypatch.setitem(service.HANDLERS, "hang", hang_in_child)
    job_id = service.enqueue(db.session, "hang", {}).id
    child = multiprocessing.get_context("spawn").Process(
        target=run_and_hang, args=(database_url, job_id)
    )
    child.start()
    try:
        wait_for(lambda: read_job(db.session, job_id).status == "running", timeout=60)
        first_beat = read_job(db.session, job_id).heartbeat_at
        wait_for(lambda: read_job(db.session, job_id).heartbeat_at != first_beat)  # it beats
        # Alive and beating: not stale, nothing moves.
        assert service.requeue_stale(db.session, timedelta(seconds=5)) == []
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
    assert read_job(db.session, job_id).status == "running"  # nobody told the database

    # The thread engine of a web process finds it once its heartbeat is JOBS_STALE_SECONDS old.
    monkeypatch.setitem(app.config, "JOBS_STALE_SECONDS", 0.5)
    engine = ThreadEngine(app)
    engine.poll_seconds = 0.1
    engine.start()
    try:
        wait_for(lambda: read_job(db.session, job_id).status == "done")
    finally:
        engine.stop()
    job = read_job(db.session, job_id)
    assert job.result == {"finished_by": os.getpid()}
    assert job.claimed_by != "doomed-worker"


def test_only_silent_jobs_are_queued_again_with_a_reason(app, test_kinds):
    silent = service.enqueue(db.session, "count", {"n": 1}).id
    beating = service.enqueue(db.session, "count", {"n": 2}).id
    for job_id in (silent, beating):
        assert service.claim(db.session, job_id, f"worker-{job_id}")
    long_ago = utcnow() - timedelta(minutes=10)
    db.session.execute(sa.update(Job).where(Job.id == silent).values(heartbeat_at=long_ago))
    db.session.commit()

    assert service.requeue_stale(db.session, timedelta(minutes=5)) == [silent]
    moved = read_job(db.session, silent)
    assert moved.status == "queued" and moved.claimed_by is None
    assert f"worker-{silent}" in moved.message and "stopped answering" in moved.message
    assert read_job(db.session, beating).status == "running"
    assert service.requeue_stale(db.session, timedelta(minutes=5)) == []  # moved once


def silent_job_with_inline_engine(app, monkeypatch) -> int:
    """A "count" job claimed by a worker silent for an hour; the app runs jobs inline (as an
    RQ worker would, elsewhere, but at once)."""
    monkeypatch.setitem(app.config, "JOBS_ENGINE", "inline")
    monkeypatch.delitem(app.extensions, "jobs_engine", raising=False)
    job_id = service.enqueue(db.session, "count", {}).id
    assert service.claim(db.session, job_id, "gone")
    long_ago = utcnow() - timedelta(hours=1)
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(heartbeat_at=long_ago))
    db.session.commit()
    return job_id


def test_the_job_page_recovers_a_job_whose_worker_died(app, client, test_kinds, monkeypatch):
    job_id = silent_job_with_inline_engine(app, monkeypatch)

    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    job = read_job(db.session, job_id)
    assert (job.status, job.done) == ("done", 1) and job.claimed_by != "gone"
    assert "Done" in html


def test_flask_jobs_recover(app, runner, test_kinds, monkeypatch):
    job_id = silent_job_with_inline_engine(app, monkeypatch)
    result = runner.invoke(args=["jobs", "recover"])
    assert result.exit_code == 0 and f"job {job_id}: queued again" in result.output
    assert read_job(db.session, job_id).status == "done"  # the inline engine ran it at once
    assert "No job lost its worker." in runner.invoke(args=["jobs", "recover"]).output
