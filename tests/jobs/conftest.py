"""Job tests: test-only job kinds, a second session, and the real embedding model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.embeddings.model import Embedder
from app.extensions import db
from app.jobs import service
from app.models import Job


def count_run(app, job, progress) -> dict:
    """A handler that counts its runs in the row itself (done = done + 1, atomically)."""
    db.session.execute(sa.update(Job).where(Job.id == job.id).values(done=Job.done + 1))
    db.session.commit()
    time.sleep(0.05)  # long enough for a competing worker to try its claim meanwhile
    return {"ran": True}


def broken(app, job, progress) -> dict:
    raise RuntimeError("secret internals: password=hunter2")


def refused(app, job, progress) -> dict:
    raise service.JobError("There is nothing to embed yet.")


@pytest.fixture
def test_kinds(monkeypatch):
    """Register the test-only kinds for this test."""
    for kind, function in (("count", count_run), ("broken", broken), ("refused", refused)):
        monkeypatch.setitem(service.HANDLERS, kind, function)


class Stepper:
    """A handler that reports three steps and waits for the test after each."""

    def __init__(self) -> None:
        self.reported = threading.Semaphore(0)
        self.proceed = threading.Semaphore(0)

    def __call__(self, app, job, progress) -> dict:
        for step in (1, 2, 3):
            progress(step, 3, f"Step {step} of 3")
            self.reported.release()
            assert self.proceed.acquire(timeout=10), "the test never let the job go on"
        return {"steps": 3}


@pytest.fixture
def stepper(monkeypatch) -> Stepper:
    handler = Stepper()
    monkeypatch.setitem(service.HANDLERS, "steps", handler)
    return handler


@pytest.fixture
def other_session(app):
    """A session of its own, as another process (the web page) would read the jobs."""
    session = Session(db.engine)
    yield session
    session.close()


def read_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    session.commit()
    return job


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    model = Embedder(cache_dir=tmp_path_factory.mktemp("models"), threads=2)
    model.embed(["warm up"])
    return model


@pytest.fixture
def app_embedder(app, embedder, monkeypatch):
    monkeypatch.setitem(app.extensions, "embedder", embedder)
    return embedder
