"""Safe releases: every migration is expand-then-contract, so the previous release keeps working
on the new schema while a release rolls out (DEPLOY.md, "Releases").

Each migration is applied on its own, from an empty database up to head, and the schema is read
before and after it. The previous release's code reads and writes exactly the schema before the
migration (tests/test_app.py checks on every run that the models match the migrations), so:

- every table and column there before must still be there after, with the same type, and each
  is read back with a SELECT naming them all (the previous release's queries, as far as the
  schema can tell them);
- a column added to a table that existed must be nullable or have a server default (the
  previous release inserts rows without it), and no existing column may become NOT NULL.

A contract step (dropping what the release before last stopped reading) is an explicit entry in
ALLOWED with its reason. Runs on a scratch SQLite file, and on a scratch PostgreSQL database
next to TEST_DATABASE_URL's when that is set.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from app.config import TestConfig, normalise_database_url
from app.extensions import db
from tests.conftest import MIGRATIONS

# (revision, table, column or None for the whole table) -> why the previous release does not
# read it any more. Empty: no migration so far has dropped or tightened anything.
ALLOWED: dict[tuple[str, str, str | None], str] = {}

# Tables the previous release never reads itself: Alembic's own, and SQLite's FTS5 shadow tables
# (managed by the virtual table datasets_fts, which is checked).
IGNORED_TABLES = {"alembic_version"}
IGNORED_PREFIXES = ("datasets_fts_",)


@dataclass(frozen=True)
class Column:
    type: str
    nullable: bool
    default: bool  # a server default


Schema = dict[str, dict[str, Column]]


def read_schema(engine: sa.Engine) -> Schema:
    inspector = sa.inspect(engine)
    schema: Schema = {}
    for table in inspector.get_table_names():
        if table in IGNORED_TABLES or table.startswith(IGNORED_PREFIXES):
            continue
        schema[table] = {
            column["name"]: Column(
                type=str(column["type"]).split("(")[0].upper(),
                nullable=bool(column["nullable"]),
                default=column.get("default") is not None,
            )
            for column in inspector.get_columns(table)
        }
    return schema


def unsafe_changes(revision: str, before: Schema, after: Schema) -> list[str]:
    """What in `after` would break code written for `before`, less what ALLOWED excuses."""
    problems = []

    def problem(table: str, column: str | None, what: str) -> None:
        if (revision, table, column) not in ALLOWED:
            problems.append(f"{revision}: {what}")

    for table, columns in before.items():
        if table not in after:
            problem(table, None, f"drops table {table}, which the previous release reads")
            continue
        for name, old in columns.items():
            new = after[table].get(name)
            if new is None:
                problem(table, name, f"drops {table}.{name}, which the previous release reads")
            elif new.type != old.type:
                problem(
                    table, name, f"changes the type of {table}.{name}: {old.type} -> {new.type}"
                )
            elif old.nullable and not new.nullable and not new.default:
                problem(table, name, f"makes {table}.{name} NOT NULL without a server default")
        for name in after[table].keys() - columns.keys():
            new = after[table][name]
            if not new.nullable and not new.default:
                problem(
                    table,
                    name,
                    f"adds {table}.{name} NOT NULL without a server default: the previous "
                    "release inserts rows without it",
                )
    return problems


def previous_release_reads(engine: sa.Engine, before: Schema) -> list[str]:
    """Run, on the new schema, a SELECT of every table and column the previous release had."""
    failures = []
    with engine.connect() as connection:
        for table, columns in before.items():
            query = sa.select(*(sa.column(name) for name in columns)).select_from(sa.table(table))
            try:
                connection.execute(query.limit(1)).all()
            except sa.exc.DBAPIError as error:
                connection.rollback()
                failures.append(f"SELECT from {table}: {type(error.orig).__name__}: {error.orig}")
    return failures


def revisions(directory: Path) -> list[str]:
    """The migrations in the order they apply (one line of history: no branches)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(directory))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, "more than one head: merge them first"
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def check_every_step(app, directory: Path) -> tuple[list[str], list[str]]:
    """Apply each migration in turn; (unsafe changes, failed reads) over all of them."""
    unsafe, failed = [], []
    with app.app_context():
        engine = db.engine
        for revision in revisions(directory):
            before = read_schema(engine)
            upgrade(directory=str(directory), revision=revision)
            after = read_schema(engine)
            unsafe += unsafe_changes(revision, before, after)
            failed += [f"{revision}: {line}" for line in previous_release_reads(engine, before)]
        db.session.remove()
    return unsafe, failed


@pytest.fixture
def scratch_urls(tmp_path) -> list[str]:
    """An empty SQLite file, and an empty PostgreSQL database when the run has one."""
    urls = [f"sqlite:///{tmp_path / 'steps.db'}"]
    base = os.environ.get("TEST_DATABASE_URL")
    scratch = None
    if base and base.startswith("postgresql"):
        url = sa.make_url(normalise_database_url(base))
        scratch = f"{url.database}_migration_steps"
        server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}"'))
            connection.execute(sa.text(f'CREATE DATABASE "{scratch}"'))
        urls.append(url.set(database=scratch).render_as_string(hide_password=False))
    yield urls
    if scratch:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        server.dispose()


def test_every_migration_leaves_the_previous_release_working(scratch_urls, make_app):
    assert len(revisions(MIGRATIONS)) >= 10
    for url in scratch_urls:
        unsafe, failed = check_every_step(make_app(TestConfig(url)), MIGRATIONS)
        assert unsafe == [], f"{sa.make_url(url).get_backend_name()}: {unsafe}"
        assert failed == [], f"{sa.make_url(url).get_backend_name()}: {failed}"


def test_every_allowance_names_a_real_migration_and_says_why():
    known = set(revisions(MIGRATIONS))
    for (revision, table, _column), reason in ALLOWED.items():
        assert revision in known, f"ALLOWED names {revision}, which is not a migration"
        assert table and len(reason) > 20, f"ALLOWED[{revision}, {table}] needs a real reason"


UNSAFE_MIGRATION = '''"""an unsafe step, as a careless release would write it

Revision ID: 9901
Revises: {head}
"""
import sqlalchemy as sa
from alembic import op

revision = "9901"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("feed_token")
    with op.batch_alter_table("follows") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(200), nullable=False))
        batch_op.add_column(sa.Column("muted", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("label", sa.String(40), nullable=True))
    op.rename_table("hub_cache", "hub_answers")


def downgrade():
    pass
'''


def test_an_unsafe_migration_is_caught(tmp_path, make_app):
    """The check fails where it should: drops, a rename and a NOT NULL column without default
    (a column with a server default, or nullable, passes)."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    head = revisions(MIGRATIONS)[-1]
    (directory / "versions" / "9901_unsafe.py").write_text(UNSAFE_MIGRATION.format(head=head))
    app = make_app(TestConfig(f"sqlite:///{tmp_path / 'unsafe.db'}"))
    unsafe, failed = check_every_step(app, directory)
    assert sorted(unsafe) == [
        "9901: adds follows.note NOT NULL without a server default: the previous release "
        "inserts rows without it",
        "9901: drops table hub_cache, which the previous release reads",
        "9901: drops users.feed_token, which the previous release reads",
    ]
    assert len(failed) == 2  # the previous release's SELECTs of users and hub_cache fail
    assert any("users" in line and "feed_token" in line for line in failed)
    assert any("hub_cache" in line for line in failed)
