"""`flask catalog ...` commands."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app.catalog.importer import ImportSummary, import_file, load_starter_catalog
from app.extensions import db


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
    if len(files) > 1:
        click.echo(f"total: {total}")


@catalog.command("load-starter")
@with_appcontext
def load_starter_command() -> None:
    """Load the shipped starter catalog, only into an empty database."""
    summary = load_starter_catalog(db.session)
    if summary is None:
        click.echo("The catalog already has datasets; the starter catalog was not loaded.")
        return
    for problem in summary.problems:
        click.echo(f"skipped {problem}", err=True)
    click.echo(f"starter catalog: {summary}")
