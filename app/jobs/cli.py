"""`flask jobs ...` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.extensions import db
from app.jobs import service
from app.jobs.engines import run_in_context
from app.models import Job


@click.group()
def jobs() -> None:
    """Background jobs (RQ workers run them with `rq worker`; see the README)."""


def echo_progress(label: str):
    def echo(done: int, total: int | None, message: str) -> None:
        amount = f"{done:,} of {total:,}" if total else f"{done:,}"
        click.echo(f"\r{label}: {amount} {message}".ljust(78)[:78], nl=False, err=True)

    return echo


@jobs.command("run-queued")
@click.option("--kind", help="Only jobs of this kind (embed, topics).")
@with_appcontext
def run_queued_command(kind: str | None) -> None:
    """Run every queued job here, one after another (for cron, ops and tests)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = service.worker_name("cli")
    ran = failed = 0
    for job_id in service.queued_ids(db.session, kind):
        label = f"job {job_id}"
        if not run_in_context(app, job_id, worker, echo=echo_progress(label)):
            continue  # another worker took it meanwhile
        job = db.session.get(Job, job_id, populate_existing=True)
        db.session.commit()
        click.echo("", err=True)
        click.echo(f"{label} ({job.kind}): {job.status}. {job.message}")
        ran += 1
        failed += job.status == service.FAILED
    click.echo(f"{ran} job{'s' if ran != 1 else ''} run, {failed} failed.")
    if failed:
        raise SystemExit(1)


@jobs.command("recover")
@with_appcontext
def recover_command() -> None:
    """Queue again the running jobs whose worker stopped beating (JOBS_STALE_SECONDS)."""
    from app.jobs.engines import recover_stale

    moved = recover_stale(current_app._get_current_object())  # type: ignore[attr-defined]
    if not moved:
        click.echo("No job lost its worker.")
    for job_id in moved:
        click.echo(f"job {job_id}: queued again (its worker stopped answering).")


@jobs.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@with_appcontext
def list_command(limit: int) -> None:
    """The most recent jobs, newest first."""
    found = service.recent(db.session, limit)
    if not found:
        click.echo("No jobs yet.")
        return
    for job in found:
        amount = f"{job.done:,}/{job.total:,}" if job.total else f"{job.done:,}"
        created = job.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{job.id:>6}  {job.kind:<8} {job.status:<8} {amount:>15}  {created}  {job.message}"
        )
