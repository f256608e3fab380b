"""`flask db backup PATH`: a subcommand of Flask-Migrate's `db` group."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app.extensions import db
from app.ops.backup import BackupError, backup_sqlite

PG_DUMP_HINT = """\
This app uses PostgreSQL; `flask db backup` copies SQLite databases only.
Back PostgreSQL up with pg_dump (from a client of the server's major version or newer):

  pg_dump --format=custom --no-owner --file={path} '{url}'

and restore into an empty database with:

  pg_restore --no-owner --exit-on-error --dbname='<an empty database URL>' {path}

The README's "Backups" section has the restore drill."""


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@with_appcontext
def backup(path: Path, force: bool) -> None:
    """Back the database up to PATH (a file, or a folder for a time-stamped file).

    SQLite: a consistent copy through SQLite's online backup API, safe while the app writes.
    PostgreSQL: says how to use pg_dump instead.
    """
    url = db.engine.url
    backend = url.get_backend_name()
    if backend == "postgresql":
        plain = url.set(drivername="postgresql").render_as_string(hide_password=True)
        raise click.ClickException(PG_DUMP_HINT.format(path=path, url=plain))
    if backend != "sqlite" or not url.database or url.database == ":memory:":
        raise click.ClickException(f"Cannot back up a {backend} database this way.")
    try:
        result = backup_sqlite(Path(url.database), path, overwrite=force)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up {url.database} to {result.path} ({result.size:,} bytes, integrity ok).")
