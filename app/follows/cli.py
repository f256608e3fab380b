"""`flask follows ...` commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.catalog.cli import Progress
from app.extensions import db
from app.follows.refresh import followed_datasets, refresh_followed
from app.hub.service import hub_client


@click.group()
def follows() -> None:
    """Followed datasets."""


@follows.command("refresh")
@with_appcontext
def refresh_command() -> None:
    """Look at every followed dataset on the Hub again (once each) and record what changed."""
    datasets = followed_datasets(db.session)
    summary = refresh_followed(
        db.session, hub_client(), datasets, on_progress=Progress(len(datasets))
    )
    click.echo("", err=True)
    for repo_id, reason in summary.failed:
        click.echo(f"failed {repo_id}: {reason}", err=True)
    if summary.stopped_early:
        click.echo(f"stopped early: {summary.stopped_early}", err=True)
    click.echo(
        f"refresh: {summary.refreshed} of {len(datasets)} datasets, {summary.changes} changes, "
        f"{len(summary.failed)} failed"
    )
    if summary.failed or summary.stopped_early:
        raise SystemExit(1)
