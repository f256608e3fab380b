"""`flask topics ...` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.catalog.cli import Progress
from app.embeddings.model import ModelError, embedder_for
from app.extensions import db
from app.semantic.topics import TopicModelError, fit_topic_model, refit_check


@click.group()
def topics() -> None:
    """Manage the catalog's topic model."""


@topics.command("fit")
@click.option("--k", type=click.IntRange(min=2), help="Number of topics (default: the k rule).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--if-needed", is_flag=True, help="Only when the catalog changed enough.")
@with_appcontext
def fit_command(k: int | None, seed: int, if_needed: bool) -> None:
    """Embed what is missing, then fit a new topic model version and make it current."""
    embedder = embedder_for(current_app)
    if if_needed:
        check = refit_check(db.session, embedder.model_id)
        if not check.needed:
            click.echo(f"No refit needed: {check.reason}.")
            return
    lines: dict[str, Progress] = {}

    def progress(done: int, total: int, message: str) -> None:
        if message == "Embedding datasets":
            lines.setdefault(message, Progress(total))(done)
        else:
            click.echo(("\n" if lines else "") + message, err=True)
            lines.clear()

    try:
        version = fit_topic_model(db.session, embedder, progress, k=k, seed=seed)
    except (ModelError, TopicModelError) as error:
        click.echo("", err=True)
        raise click.ClickException(str(error)) from None
    click.echo(
        f"topic model version {version.id}: {version.topic_count} topics over "
        f"{version.dataset_count:,} datasets (k={version.params['k']}, "
        f"{version.params['k_rule']}, seed {seed}, {embedder.model_id})"
    )
