"""Jobs as rows: queue them, claim them (once), report progress, finish or fail them.

Nothing here knows which engine runs a job (app.jobs.engines) or touches a request. A job is
claimed with one conditional UPDATE (queued -> running); only the worker whose UPDATE changed
the row runs it, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Dataset, Job, utcnow
from app.ops import tracing

logger = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)

KIND_TITLES = {"embed": "Embedding the catalog", "topics": "Fitting the topic model"}


class JobError(Exception):
    """A job cannot go on, for a reason that may be shown to anyone as it is."""


class JobProgress:
    """The callback a handler reports through: `progress(done, total=None, message=None)`.

    Each report is written in its own short transaction (not the handler's session), so a page
    sees it while the job runs. Reports that only move `done` are written at most every
    `min_interval` seconds; a new total or message, and reaching the total, always are.
    """

    def __init__(
        self,
        engine: Engine,
        job_id: int,
        min_interval: float = 0.5,
        echo: Callable[[int, int | None, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.job_id = job_id
        self.min_interval = min_interval
        self.echo = echo
        self.done = 0
        self.total: int | None = None
        self.message = ""
        self._written_at = float("-inf")

    def __call__(self, done: int, total: int | None = None, message: str | None = None) -> None:
        changed = (total is not None and total != self.total) or (
            message is not None and message != self.message
        )
        self.done = done
        self.total = self.total if total is None else total
        self.message = self.message if message is None else message
        if self.echo:
            self.echo(self.done, self.total, self.message)
        now = time.monotonic()
        finished = self.total is not None and done >= self.total
        if changed or finished or now - self._written_at >= self.min_interval:
            report_progress(self.engine, self.job_id, done, total, message)
            self._written_at = now


Handler = Callable[[Flask, Job, JobProgress], Any]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register a function as the way to run jobs of this kind."""

    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, "Background job")


def worker_name(engine: str) -> str:
    """Who claims a job: engine, host, process and thread, so a stuck claim can be traced."""
    thread = threading.current_thread().name
    return f"{engine}:{socket.gethostname()}:{os.getpid()}:{thread}"[:100]


def find_queued(session: Session, kind: str, params: dict) -> Job | None:
    """A job of this kind with these very params still waiting to run, if any."""
    waiting = session.scalars(
        sa.select(Job).where(Job.kind == kind, Job.status == QUEUED).order_by(Job.id)
    )
    return next((job for job in waiting if job.params == params), None)


def enqueue(session: Session, kind: str, params: dict | None = None) -> Job:
    """Queue a job; the same kind with the same params already waiting is returned instead."""
    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind {kind!r}")
    params = dict(params or {})
    existing = find_queued(session, kind, params)
    if existing is not None:
        return existing
    job = Job(kind=kind, status=QUEUED, params=params, done=0, message="Waiting to start.")
    session.add(job)
    session.commit()
    return job


def queued_ids(session: Session, kind: str | None = None) -> list[int]:
    """Ids of the jobs waiting to run, oldest first."""
    query = sa.select(Job.id).where(Job.status == QUEUED).order_by(Job.id)
    if kind is not None:
        query = query.where(Job.kind == kind)
    ids = list(session.scalars(query))
    session.commit()  # end the read transaction: the caller goes on to claim
    return ids


def claim(session: Session, job_id: int, worker: str) -> bool:
    """Take a queued job for this worker; False when another worker already has it."""
    result = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status == QUEUED)
        .values(
            status=RUNNING,
            claimed_by=worker[:100],
            started_at=utcnow(),
            heartbeat_at=utcnow(),
            message="Started.",
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def report_progress(
    engine: Engine,
    job_id: int,
    done: int,
    total: int | None = None,
    message: str | None = None,
) -> None:
    """Write how far a running job got, in a transaction of its own; a failure only logs."""
    values: dict[str, Any] = {"done": done, "heartbeat_at": utcnow()}
    if total is not None:
        values["total"] = total
    if message is not None:
        values["message"] = message
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(Job).where(Job.id == job_id, Job.status == RUNNING).values(**values)
            )
    except SQLAlchemyError as error:  # progress is a courtesy: never fail the job over it
        logger.warning("Job %s: progress not recorded (%s)", job_id, error)


class Heartbeat:
    """While a job runs, a thread writes its heartbeat every `interval` seconds, so a job whose
    process died (killed, out of memory, machine gone) can be told from a slow one."""

    def __init__(self, engine: Engine, job_id: int, interval: float) -> None:
        self.engine = engine
        self.job_id = job_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job_id}-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        sa.update(Job)
                        .where(Job.id == self.job_id, Job.status == RUNNING)
                        .values(heartbeat_at=utcnow())
                    )
            except SQLAlchemyError as error:  # the database may be away for a moment
                logger.warning("Job %s: heartbeat not recorded (%s)", self.job_id, error)


def requeue_stale(session: Session, stale_after: timedelta) -> list[int]:
    """Queue again the running jobs whose worker stopped beating; their ids, oldest first.

    Re-running is safe: embedding skips what was stored (text hashes) and a topic fit is
    written in one transaction. Each job is moved with a conditional UPDATE, so two processes
    recovering at once move it once, and a worker that beats meanwhile keeps its job.
    """
    cutoff = utcnow() - stale_after
    last_sign = sa.func.coalesce(Job.heartbeat_at, Job.started_at)
    stale = session.execute(
        sa.select(Job.id, Job.claimed_by, last_sign)
        .where(Job.status == RUNNING, last_sign < cutoff)
        .order_by(Job.id)
    ).all()
    moved = []
    for job_id, worker, seen in stale:
        when = seen.strftime("%Y-%m-%d %H:%M UTC") if seen else "an unknown time"
        result = session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.status == RUNNING, last_sign < cutoff)
            .values(
                status=QUEUED,
                claimed_by=None,
                message=f"Queued again: its worker ({worker}) stopped answering at {when}.",
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            moved.append(job_id)
            logger.warning("Job %s queued again: worker %s silent since %s", job_id, worker, when)
    session.commit()
    return moved


def finish(session: Session, job_id: int, result: dict, message: str = "Done.") -> None:
    session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(
            status=DONE,
            result=result,
            message=message,
            done=sa.func.coalesce(Job.total, Job.done),
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


def fail(session: Session, job_id: int, message: str) -> None:
    session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(status=FAILED, message=message, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


def latest(session: Session, kind: str) -> Job | None:
    """The most recently created job of this kind."""
    return session.scalar(
        sa.select(Job).where(Job.kind == kind).order_by(Job.created_at.desc(), Job.id.desc())
    )


def recent(session: Session, limit: int = 20) -> list[Job]:
    return list(session.scalars(sa.select(Job).order_by(Job.id.desc()).limit(limit)))


def readable(error: BaseException) -> str:
    """What a failed job says about its error: the message of errors meant for people only."""
    from app.embeddings.model import ModelError

    if isinstance(error, JobError | ModelError):
        return str(error)
    if type(error).__name__ == "JobTimeoutException":  # rq's, raised inside the handler
        return "The job ran longer than its time limit (JOBS_TIMEOUT) and was stopped."
    return (
        f"The job stopped on an unexpected error ({type(error).__name__}); "
        "the details are in the server log."
    )


def as_result(value: Any) -> dict:
    """A handler's return value as JSON for Job.result."""
    if value is None:
        result: Any = {}
    elif isinstance(value, dict):
        result = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        result = dataclasses.asdict(value)
    elif isinstance(getattr(value, "id", None), int):
        result = {"id": value.id}
    else:
        result = {"summary": str(value)}
    return json.loads(json.dumps(result, default=str))


def run(
    app: Flask,
    job_id: int,
    worker: str,
    echo: Callable[[int, int | None, str], None] | None = None,
) -> bool:
    """Claim and run one job in the current app context; False when it was not ours to run.

    A handler's exception fails the job with a readable message; the traceback goes to the log.
    """
    session = db.session
    if not claim(session, job_id, worker):
        return False
    job = session.get(Job, job_id)
    assert job is not None  # a claimed row exists
    kind = job.kind
    progress = JobProgress(db.engine, job_id, echo=echo)
    heartbeat = Heartbeat(db.engine, job_id, float(app.config.get("JOBS_HEARTBEAT_SECONDS", 30)))
    # One span per run, with the id of the request that queued it (bound by the engine).
    attributes = {"job.id": job_id, "job.kind": kind, "job.worker": worker}
    with tracing.span(f"job {kind}", attributes=attributes) as span:
        try:
            function = HANDLERS.get(kind)
            if function is None:
                raise JobError(f"This version of the app does not know how to run “{kind}” jobs.")
            with heartbeat:
                result = as_result(function(app, job, progress))
        except Exception as error:
            session.rollback()
            logger.exception("Job %s (%s) failed", job_id, kind)
            tracing.failed(span, error)
            fail(session, job_id, readable(error))
        else:
            finish(session, job_id, result, result_message(kind, result))
    tracing.flush()  # an RQ work horse exits right after its job: send the spans now
    return True


def result_message(kind: str, result: dict) -> str:
    if kind == "embed" and "embedded" in result:
        return f"Done: {result['embedded']:,} embedded, {result['unchanged']:,} unchanged."
    if kind == "topics" and result.get("topic_count") is not None:
        return f"Done: {result['topic_count']:,} topics over {result['dataset_count']:,} datasets."
    return "Done."


@handler("embed")
def embed_catalog(app: Flask, job: Job, progress: JobProgress) -> dict:
    """Embed the datasets whose text changed (params: optional `dataset_ids`)."""
    from app.embeddings.model import embedder_for
    from app.embeddings.store import embed_datasets

    ids = job.params.get("dataset_ids")
    if ids is None:
        total = db.session.scalar(sa.select(sa.func.count(Dataset.id))) or 0
    else:
        total = len(set(ids))
    db.session.commit()  # embed_datasets wants a session without a transaction in flight
    progress(0, total, "Loading the embedding model.")
    embedder = embedder_for(app)
    progress(0, total, "Embedding datasets.")
    summary = embed_datasets(db.session, embedder, dataset_ids=ids, progress=progress)
    return {
        "embedded": summary.embedded,
        "unchanged": summary.unchanged,
        "model_id": embedder.model_id,
    }


@handler("topics")
def fit_topics(app: Flask, job: Job, progress: JobProgress) -> Any:
    """Fit the catalog's topic model on the stored vectors (app.semantic, when installed)."""
    from app.embeddings.model import embedder_for

    try:
        from app.semantic.topics import fit_topic_model
    except ModuleNotFoundError as error:
        if error.name not in ("app.semantic", "app.semantic.topics"):
            raise
        raise JobError("This version of the app cannot fit a topic model yet.") from None
    from app.semantic.topics import TopicModelError

    db.session.commit()
    try:
        version = fit_topic_model(db.session, embedder_for(app), progress=progress)
    except TopicModelError as error:  # says what is missing, in words
        raise JobError(str(error)) from error
    return {
        "version_id": getattr(version, "id", None),
        "topic_count": getattr(version, "topic_count", None),
        "dataset_count": getattr(version, "dataset_count", None),
    }
