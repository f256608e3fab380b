"""/metrics in Prometheus text format: who may read it, and what it adds to app.ops.instruments.

Multiprocess mode (gunicorn): set PROMETHEUS_MULTIPROC_DIR to an empty folder the workers can
write before anything imports prometheus_client; gunicorn.conf.py empties it when the server
starts (`clear_multiproc_dir()` in `on_starting`) and calls `worker_exited(worker.pid)` in
`child_exit`, so a dead worker's "live" gauges stop counting. Counters and histograms of dead
workers keep counting, as Prometheus expects of counters.

The job figures (how many wait or run, how long finished ones took) are read from the jobs
table at scrape time, so they are right whichever process or host ran the jobs.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

NAMESPACE = "dataset_explorer"  # as in app.ops.instruments
ALLOW_KEY = "ops_metrics_allow"
JOB_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def multiproc_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def clear_multiproc_dir() -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR (creating it) of earlier runs' files: call once when
    the server starts (gunicorn's on_starting). This process's own files are kept: importing
    the app has already opened them."""
    directory = multiproc_dir()
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    own = f"_{os.getpid()}.db"
    for stale in path.glob("*.db"):
        if not stale.name.endswith(own):
            stale.unlink(missing_ok=True)


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: forget the dead worker's live gauges."""
    if multiproc_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def parse_allow(value: str | None) -> list[Network]:
    """METRICS_ALLOW: addresses or networks separated by commas or spaces ('' allows none)."""
    networks = []
    for item in (value or "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"METRICS_ALLOW: {item!r} is not an IP address or network") from None
    return networks


def init_app(app: Flask) -> None:
    app.extensions[ALLOW_KEY] = parse_allow(app.config.get("METRICS_ALLOW"))


def allowed(app: Flask, remote_addr: str | None, authorization: str | None) -> bool:
    """A scrape from a trusted address (the real client's, behind ProxyFix) or with the token."""
    token = app.config.get("METRICS_TOKEN")
    if token and authorization:
        scheme, _, offered = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            offered.strip().encode(), token.encode()
        ):
            return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in app.extensions.get(ALLOW_KEY, []))


class JobsCollector:
    """Queue depth and durations of finished jobs, read from the jobs table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self):
        from app.jobs import service
        from app.models import Job

        try:
            waiting = self.session.execute(
                sa.select(Job.kind, Job.status, sa.func.count(), sa.func.min(Job.created_at))
                .where(Job.status.in_(service.ACTIVE))
                .group_by(Job.kind, Job.status)
            ).all()
            finished = self.session.execute(
                sa.select(Job.kind, Job.status, Job.started_at, Job.finished_at).where(
                    Job.status.in_((service.DONE, service.FAILED)),
                    Job.started_at.is_not(None),
                    Job.finished_at.is_not(None),
                )
            ).all()
            self.session.commit()
        except SQLAlchemyError as error:
            self.session.rollback()
            log.warning("/metrics: the jobs table could not be read (%s)", type(error).__name__)
            return

        depth = GaugeMetricFamily(
            f"{NAMESPACE}_jobs",
            "Background jobs waiting (queued) or running, by kind.",
            labels=["kind", "status"],
        )
        counts = {(kind, status): 0 for kind in service.HANDLERS for status in service.ACTIVE}
        oldest: datetime | None = None
        for kind, status, count, created_at in waiting:
            counts[(kind, status)] = count
            if status == service.QUEUED and created_at is not None:
                oldest = min(oldest, _aware(created_at)) if oldest else _aware(created_at)
        for (kind, status), count in sorted(counts.items()):
            depth.add_metric([kind, status], count)
        yield depth

        age = GaugeMetricFamily(
            f"{NAMESPACE}_jobs_oldest_queued_age_seconds",
            "How long the oldest queued job has waited (0 when none waits).",
        )
        age.add_metric([], (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
        yield age

        durations: dict[tuple[str, str], list[float]] = defaultdict(list)
        for kind, status, started_at, finished_at in finished:
            seconds = (_aware(finished_at) - _aware(started_at)).total_seconds()
            durations[(kind, status)].append(max(0.0, seconds))
        histogram = HistogramMetricFamily(
            f"{NAMESPACE}_job_duration_seconds",
            "Run time of finished jobs (done or failed), by kind and status.",
            labels=["kind", "status"],
        )
        for (kind, status), values in sorted(durations.items()):
            buckets = [(str(float(le)), sum(v <= le for v in values)) for le in JOB_BUCKETS]
            buckets.append(("+Inf", len(values)))
            histogram.add_metric([kind, status], buckets, sum(values))
        yield histogram


class ReadinessCollector:
    """/ready's checks as `dataset_explorer_ready{check}` (1 passing, 0 failing), read at scrape
    time, so an alert rule sees readiness fail (a probe's answer is not a metric)."""

    def __init__(self, app: Flask, engine) -> None:
        self.app, self.engine = app, engine

    def collect(self):
        from app.ops.readiness import readiness

        ready = GaugeMetricFamily(
            f"{NAMESPACE}_ready",
            "1 when this check of /ready passes (database, migrations, redis, model), else 0.",
            labels=["check"],
        )
        for check in readiness(self.app, self.engine):
            ready.add_metric([check.name], 1.0 if check.ok else 0.0)
        yield ready


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def exposition(session: Session) -> tuple[bytes, str]:
    """The text a scrape gets: this process's metrics (all workers' in multiprocess mode)."""
    if multiproc_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    from_database = CollectorRegistry()
    from_database.register(JobsCollector(session))
    from_database.register(
        ReadinessCollector(current_app._get_current_object(), session.get_bind())
    )
    return generate_latest(registry) + generate_latest(from_database), CONTENT_TYPE_LATEST
