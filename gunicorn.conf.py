"""gunicorn settings for Dataset Explorer (read by `gunicorn -c gunicorn.conf.py wsgi:app`).

Every value can be overridden from the environment (see README, "Production"):

- WEB_CONCURRENCY: worker processes (default: the cores this process may use, at least 2, so
  one worker dying never leaves nobody to answer). Exported again so the app sees the same
  number (app.config WEB_CONCURRENCY; the embedding model's threads are cores / workers).
- GUNICORN_THREADS: threads per worker (default 4; requests mostly wait on the database or
  the Hub, and embedding inference is serialised per process anyway).
- GUNICORN_BIND (default 127.0.0.1:8000; the container sets 0.0.0.0:8000).
- GUNICORN_TIMEOUT: seconds a worker may stay silent before the master replaces it. The default
  leaves room for the slowest request the app makes on purpose: a cold dataset page makes up to
  four Hub calls of HUB_BUDGET seconds each (retries included), plus a margin.
- GUNICORN_GRACEFUL_TIMEOUT: how long a stopping or reloading worker may finish its requests.

No preload: each worker imports the app after the fork, so onnxruntime (loaded lazily by the
first embedding request) never crosses a fork. `kill -HUP <master>` reloads gracefully: new
workers start with the new code and configuration, old ones finish their requests first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime

from gunicorn import glogging


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


CORES = _cores()

# --- Processes ------------------------------------------------------------------------------

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
workers = max(1, _int_env("WEB_CONCURRENCY", max(2, CORES)))
worker_class = "gthread"
threads = max(1, _int_env("GUNICORN_THREADS", 4))
preload_app = False  # onnxruntime must be loaded after the fork, in each worker

# The app reads the same numbers: ProductionConfig.WEB_CONCURRENCY (SQLite WAL check) and the
# embedder's default thread count (cores // WEB_CONCURRENCY), so workers x onnxruntime threads
# stays within the cores. BLAS (numpy, scikit-learn's k-means) is bounded the same way.
os.environ["WEB_CONCURRENCY"] = str(workers)
_model_threads = str(max(1, CORES // workers))
for _name in ("EMBEDDING_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, _model_threads)

# --- Time limits ----------------------------------------------------------------------------

_HUB_BUDGET = _float_env("HUB_BUDGET", 5.0)
_COMBINATION_BUDGET = _float_env("COMBINATION_FETCH_BUDGET", 4.0)
# A cold dataset page: four Hub calls of HUB_BUDGET each; a combination report: its fetch
# budget plus embedding up to 12 members. 10 s of margin for the database and rendering.
_slowest = max(4 * _HUB_BUDGET, _COMBINATION_BUDGET + 5)
timeout = _int_env("GUNICORN_TIMEOUT", max(30, int(_slowest + 10)))
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", timeout)
keepalive = 5  # for clients that reach gunicorn directly (nginx opens one per request)

# Signals are the control interface (HUP reload, TERM stop, TTIN/TTOU more/fewer workers);
# gunicorn's control socket (in $HOME by default) is off unless a path is given.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# --- Prometheus multiprocess mode -----------------------------------------------------------

# Each worker writes its metrics to files in this folder; /metrics adds them up. It must be
# set before any worker imports prometheus_client, and emptied when the server starts (files
# of a previous run would be counted again).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(
        tempfile.gettempdir(), f"dataset-explorer-metrics-{os.getpid()}"
    )
_OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"].endswith(f"-metrics-{os.getpid()}")


def on_starting(server) -> None:
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.unlink(os.path.join(folder, name))
    server.log.info(
        "dataset-explorer: %d workers x %d threads, timeout %ds, metrics in %s",
        workers,
        threads,
        timeout,
        folder,
    )


def child_exit(server, worker) -> None:
    """A worker is gone (stopped, killed or replaced): drop its live gauges from /metrics.

    What app.ops.metrics.worker_exited does, without importing the app into the master: a
    module of ours imported here would be inherited by every later worker, and a graceful
    reload (HUP) would then keep serving its old code.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    """Read the search index as the worker starts and keep it current, in the background: at
    100,000 datasets a read takes seconds and a patch after a catalog write 20-30 ms, which would
    otherwise fall on the worker's next search (app.catalog.index_upkeep)."""
    from app.catalog.index_upkeep import keep_index_current  # in the worker, after the fork

    keep_index_current(worker.wsgi)


def on_exit(server) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


# --- Logs -----------------------------------------------------------------------------------

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Links that are secrets in themselves: an Atom feed's token, a shared combination's token.
_SECRET_PATH = re.compile(r"^/(feed|shared)/[^/]+?(\.atom|/.*)?$")


def _loggable_path(path: str) -> str:
    match = _SECRET_PATH.match(path)
    if match:
        return f"/{match.group(1)}/[token]{match.group(2) or ''}"
    return path


class JsonAccessLogger(glogging.Logger):
    """One JSON object per request, with the request id nginx sent (or the one the app made)."""

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        headers = {name.lower(): value for name, value in (resp.headers or [])}
        request_id = environ.get("HTTP_X_REQUEST_ID") or headers.get("x-request-id")
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "info",
            "logger": "gunicorn.access",
            "request_id": request_id,
            "method": environ.get("REQUEST_METHOD"),
            "path": _loggable_path(environ.get("PATH_INFO", "")),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.seconds * 1000 + request_time.microseconds / 1000, 1),
            # After ProxyFix: the client nginx saw, when the app trusts nginx.
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info(json.dumps(record, separators=(",", ":")))
        except Exception:  # a log line must never fail a request
            self.exception("Cannot write the access log line")


logger_class = JsonAccessLogger
