"""Who runs queued jobs: RQ workers on Redis, a thread in the web process, or the caller.

One interface: `submit(app, kind, params)` queues the job row and hands its id to the app's
engine. Whatever the engine, a job runs only after `service.claim` succeeds, so a job handed
to two workers (or seen queued by two processes) runs once.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from flask import Flask
from sqlalchemy import event

from app.extensions import db
from app.jobs import service
from app.models import Job
from app.ops.context import current_request_id, request_id_bound

if TYPE_CHECKING:
    from app.catalog.store import UpsertCounts

logger = logging.getLogger(__name__)

ENGINE_NAMES = ("thread", "rq", "inline")
RQ_FUNCTION = "app.jobs.worker.run_job"

_engine_lock = threading.Lock()


class Engine(Protocol):
    name: str

    def dispatch(self, job_id: int) -> None:
        """Arrange for the queued job to be run (now, soon, or by another process)."""


def run_in_context(
    app: Flask, job_id: int, worker: str, echo=None, request_id: str | None = None
) -> bool:
    """Run one job in a fresh app context (its own session), removed afterwards; its log
    lines carry the id of the request that queued it."""
    with app.app_context(), request_id_bound(request_id):
        try:
            return service.run(app, job_id, worker, echo=echo)
        finally:
            db.session.remove()


class InlineEngine:
    """Runs the job at once in the caller's thread (tests, `flask jobs run-queued`)."""

    name = "inline"

    def __init__(self, app: Flask) -> None:
        self.app = app

    def dispatch(self, job_id: int) -> None:
        run_in_context(self.app, job_id, service.worker_name(self.name))


class ThreadEngine:
    """One daemon thread per process runs jobs one after another.

    It is started by the first request a web process serves (never by a command-line process,
    whose exit would kill the job half-way). Besides the ids handed to it, it looks in the
    database for queued jobs when it starts and every JOBS_POLL_SECONDS, so jobs queued by
    `flask catalog import` in another process run in the web process.
    """

    name = "thread"

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.poll_seconds = float(app.config.get("JOBS_POLL_SECONDS", 5))
        self._ids: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._listening = False
        self._request_ids: dict[int, str | None] = {}  # job id -> the request that queued it

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def dispatch(self, job_id: int) -> None:
        self._request_ids[job_id] = current_request_id()
        self._ids.put(job_id)  # a stopped engine leaves it queued in the database

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stop_with_the_database()
            self._stopping.clear()
            self._thread = threading.Thread(target=self._work, name="jobs-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Finish the job in hand, then stop (tests; a daemon thread otherwise dies with us)."""
        self.stop_soon()
        if self._thread is not None:
            self._thread.join(timeout)

    def stop_soon(self, *_args) -> None:
        """Stop after the job in hand, without waiting for it."""
        self._stopping.set()
        self._ids.put(None)

    def _stop_with_the_database(self) -> None:
        """An app whose database engine is disposed is shutting down: its worker stops too."""
        if self._listening:
            return
        with self.app.app_context():
            for engine in db.engines.values():
                event.listen(engine, "engine_disposed", self.stop_soon)
        self._listening = True

    def _work(self) -> None:
        worker = service.worker_name(self.name)
        self._run_waiting(worker)
        while not self._stopping.is_set():
            try:
                job_id = self._ids.get(timeout=self.poll_seconds)
            except queue.Empty:
                self._run_waiting(worker)
                continue
            if job_id is not None:
                self._run_one(job_id, worker)

    def _run_waiting(self, worker: str) -> None:
        try:
            with self.app.app_context():
                try:
                    service.requeue_stale(db.session, stale_after(self.app))
                    ids = service.queued_ids(db.session)
                finally:
                    db.session.remove()
        except Exception:  # the database may be away for a moment: look again next time
            logger.exception("Jobs: could not look for queued jobs")
            return
        for job_id in ids:
            if self._stopping.is_set():
                return
            self._run_one(job_id, worker)

    def _run_one(self, job_id: int, worker: str) -> None:
        try:
            run_in_context(self.app, job_id, worker, request_id=self._request_ids.pop(job_id, None))
        except Exception:  # a failure outside the handler (say, the database): keep serving
            logger.exception("Jobs: job %s could not be run", job_id)


class RQEngine:
    """Puts the job id on an RQ queue; `rq worker` processes run app.jobs.worker.run_job."""

    name = "rq"

    def __init__(self, app: Flask) -> None:
        self.url = app.config["REDIS_URL"]
        self.queue_name = app.config.get("JOBS_QUEUE", "dataset-explorer")
        self.timeout = int(app.config.get("JOBS_TIMEOUT", 6 * 3600))
        self._queue = None

    def queue(self):
        if self._queue is None:
            from redis import Redis
            from rq import Queue

            # Timeouts: a stuck Redis must not hold the request that queues a job (the job
            # stays queued in the database; tests/faults/test_redis.py).
            redis = Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
            self._queue = Queue(self.queue_name, connection=redis)
        return self._queue

    def dispatch(self, job_id: int) -> None:
        from redis.exceptions import RedisError

        try:
            self.queue().enqueue(
                RQ_FUNCTION,
                job_id,
                current_request_id(),
                job_timeout=self.timeout,
                description=f"dataset-explorer job {job_id}",
            )
        except RedisError as error:
            logger.warning(
                "Job %s stays queued: Redis did not take it (%s). "
                "`flask jobs run-queued` runs queued jobs.",
                job_id,
                error,
            )


ENGINES = {"thread": ThreadEngine, "rq": RQEngine, "inline": InlineEngine}


def engine_name(config) -> str:
    name = config.get("JOBS_ENGINE") or ("rq" if config.get("REDIS_URL") else "thread")
    if name not in ENGINES:
        raise ValueError(f"JOBS_ENGINE must be one of {', '.join(ENGINE_NAMES)}, not {name!r}")
    if name == "rq" and not config.get("REDIS_URL"):
        raise ValueError("JOBS_ENGINE=rq needs REDIS_URL")
    return name


def engine_for(app: Flask) -> Engine:
    """The app's engine, made once: JOBS_ENGINE, else RQ with REDIS_URL, else a thread."""
    with _engine_lock:
        engine = app.extensions.get("jobs_engine")
        if engine is None:
            engine = ENGINES[engine_name(app.config)](app)
            app.extensions["jobs_engine"] = engine
        return engine


def stale_after(app: Flask) -> timedelta:
    return timedelta(seconds=float(app.config.get("JOBS_STALE_SECONDS", 300)))


def recover_stale(app: Flask) -> list[int]:
    """Queue again the running jobs whose worker died, and hand them to the engine.

    The thread engine also does this every JOBS_POLL_SECONDS; with RQ it happens when a
    job's page is looked at while the job seems to run, and with `flask jobs recover`.
    """
    moved = service.requeue_stale(db.session, stale_after(app))
    for job_id in moved:
        engine_for(app).dispatch(job_id)
    return moved


def submit(app: Flask, kind: str, params: dict | None = None) -> Job:
    """Queue a job and hand it to the engine; an identical job still waiting is reused."""
    params = dict(params or {})
    existing = service.find_queued(db.session, kind, params)
    if existing is not None:
        return existing
    job = service.enqueue(db.session, kind, params)
    engine_for(app).dispatch(job.id)
    db.session.refresh(job)  # an inline engine has run it by now
    return job


def submit_embedding(app: Flask, counts: UpsertCounts) -> Job | None:
    """After an import or sync: queue embedding when datasets were added or changed.

    Upserts report counts, not ids, so the job embeds the whole catalog; it skips every dataset
    whose text is unchanged (by hash), so only the new and changed ones cost model time.
    """
    if not (counts.inserted or counts.updated):
        return None
    return submit(app, "embed", {})


def init_app(app: Flask) -> None:
    """Check the settings; a web process starts the thread engine with its first request."""
    name = engine_name(app.config)
    if name != "thread" or not app.config.get("JOBS_AUTOSTART", True):
        return

    @app.before_request
    def start_jobs_thread() -> None:
        engine = engine_for(app)
        if not engine.running:  # type: ignore[attr-defined]
            engine.start()  # type: ignore[attr-defined]
