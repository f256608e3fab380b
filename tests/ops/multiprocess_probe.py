"""Run by test_multiprocess.py in a fresh interpreter, as a gunicorn master and worker would.

PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is first imported, which is why
this runs in its own process. The parent builds the app, forks a "worker" that serves a few
requests and opens its circuit breaker, then reaps it and scrapes /metrics before and after
`worker_exited(pid)`. It prints the two scrapes as JSON on stdout; logs go to stderr.
"""

from __future__ import annotations

import json
import os
import sys


def main(database_url: str) -> None:
    from app import create_app
    from app.config import TestConfig
    from app.extensions import db
    from app.ops import instruments, metrics

    metrics.clear_multiproc_dir()  # gunicorn.conf.py's on_starting
    app = create_app(TestConfig(database_url))
    with app.app_context():
        db.create_all()
    client = app.test_client()

    pid = os.fork()
    if pid == 0:  # the worker
        try:
            for _ in range(3):
                client.get("/health", headers={"X-Request-ID": "from-the-worker"})
            instruments.hub_breaker_state(is_open=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    for _ in range(2):
        client.get("/health")
    before = client.get("/metrics").get_data(as_text=True)
    metrics.worker_exited(pid)  # gunicorn.conf.py's child_exit
    after = client.get("/metrics").get_data(as_text=True)
    json.dump({"worker_pid": pid, "before": before, "after": after}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
