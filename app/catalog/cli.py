"""`flask catalog ...` commands."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.catalog.importer import ImportSummary, import_file, load_starter_catalog
from app.catalog.store import UpsertCounts, refresh_statistics
from app.extensions import db
from app.hub.errors import HubError
from app.hub.service import hub_client
from app.hub.sync import sync_catalog
from app.jobs.engines import submit_embedding


@click.group()
def catalog() -> None:
    """Manage the catalog mirror."""


@catalog.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(files: tuple[str, ...]) -> None:
    """Upsert datasets from JSON Lines FILES (snapshot records or Hub /api/datasets items)."""
    total = ImportSummary()
    for name in files:
        path = Path(name)
        with path.open("rb") as stream:
            line_count = sum(1 for _ in stream)
        with click.progressbar(length=line_count, label=path.name) as bar:
            done = 0

            def advance(line: int) -> None:
                nonlocal done
                bar.update(line - done)
                done = line

            summary = import_file(db.session, path, advance)
        for problem in summary.problems:
            click.echo(f"skipped {problem}", err=True)
        click.echo(f"{path}: {summary}")
        total.counts += summary.counts
        total.problems += summary.problems
    refresh_statistics(db.session)
    if len(files) > 1:
        click.echo(f"total: {total}")
    queue_embedding(total.counts)


@catalog.command("load-starter")
@with_appcontext
def load_starter_command() -> None:
    """Load the shipped starter catalog, only into an empty database."""
    summary = load_starter_catalog(db.session)
    if summary is None:
        click.echo("The catalog already has datasets; the starter catalog was not loaded.")
        return
    refresh_statistics(db.session)
    for problem in summary.problems:
        click.echo(f"skipped {problem}", err=True)
    click.echo(f"starter catalog: {summary}")
    queue_embedding(summary.counts)


class Progress:
    """One updating line: how many, how fast, and (with a known total) how long to go."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.started = time.monotonic()

    def __call__(self, done: int) -> None:
        elapsed = time.monotonic() - self.started
        # Under half a second a rate means nothing (skipping 213 unchanged is not 40 million/s).
        rate = done / elapsed if elapsed >= 0.5 else None
        line = f"{done:,} datasets" + (f", {rate:,.0f}/s" if rate is not None else "")
        if self.total:
            line += f", {done * 100 // self.total}%"
            if rate:
                line += f", about {max(self.total - done, 0) / rate:,.0f} s to go"
        click.echo("\r" + line.ljust(70), nl=False, err=True)


@catalog.command("sync")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many datasets.")
@click.option("--since", type=click.DateTime(), help="Only datasets modified after this time.")
@click.option("--full", is_flag=True, help="Walk the whole Hub, not only what changed.")
@with_appcontext
def sync_command(limit: int | None, since: datetime | None, full: bool) -> None:
    """Pull datasets from the Hub into the mirror (incremental; resumes an interrupted run)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    try:
        summary = sync_catalog(
            db.session,
            hub_client(),
            limit=limit,
            since=since,
            full=full,
            on_progress=Progress(limit),
        )
    except HubError as error:
        click.echo("", err=True)
        raise click.ClickException(f"The Hub could not be reached: {error}") from None
    click.echo("", err=True)
    if summary.seen:
        refresh_statistics(db.session)
    for repo_id, reason in summary.failed[:50]:
        click.echo(f"failed {repo_id or '(no id)'}: {reason}", err=True)
    state = "resumed, " if summary.resumed else ""
    state += "complete" if summary.complete else "stopped early; run again to continue"
    click.echo(f"sync: {summary} ({state})")
    queue_embedding(summary.counts)


def queue_embedding(counts: UpsertCounts) -> None:
    """Datasets were added or changed: queue their embedding (see app.jobs)."""
    job = submit_embedding(current_app._get_current_object(), counts)
    if job is not None:
        click.echo(f"embedding queued as job {job.id} (`flask jobs list` follows it)")
