"""`flask embeddings ...` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.catalog.cli import Progress
from app.embeddings.model import ModelError, embedder_for
from app.embeddings.store import embed_datasets
from app.extensions import db
from app.models import Dataset


@click.group()
def embeddings() -> None:
    """Manage the datasets' embedding vectors."""


@embeddings.command("build")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after embedding this many.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@with_appcontext
def build_command(limit: int | None, batch_size: int) -> None:
    """Embed the datasets whose text is new or changed since they were last embedded."""
    embedder = embedder_for(current_app)
    total = db.session.scalar(db.select(db.func.count(Dataset.id))) or 0
    try:
        summary = embed_datasets(
            db.session,
            embedder,
            batch_size=batch_size,
            progress=Progress(None if limit else total),
            limit=limit,
        )
    except ModelError as error:
        click.echo("", err=True)
        raise click.ClickException(str(error)) from None
    click.echo("", err=True)
    click.echo(f"embeddings ({embedder.model_id}, {embedder.threads} threads): {summary}")
