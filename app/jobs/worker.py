"""The function RQ workers run: `rq worker -u $REDIS_URL dataset-explorer`.

The worker needs the web app's environment (DATABASE_URL and the rest): it builds the app with
create_app() once per process and runs the job only if it claims it.
"""

from __future__ import annotations

import threading

from flask import Flask

from app.jobs import service
from app.jobs.engines import run_in_context

_app: Flask | None = None
_lock = threading.Lock()


def worker_app() -> Flask:
    """The app this worker process runs jobs with, built on first use."""
    global _app
    with _lock:
        if _app is None:
            from app import create_app

            _app = create_app()
        return _app


def run_job(job_id: int, request_id: str | None = None) -> bool:
    """Run one job; False when another worker had already claimed it."""
    return run_in_context(worker_app(), job_id, service.worker_name("rq"), request_id=request_id)
