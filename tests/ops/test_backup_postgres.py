"""The PostgreSQL restore drill on a backup taken while the app writes (README, "Backups"):
pg_dump --format=custom during a stream of commits, pg_restore into a scratch database, and
every row committed before the dump began is there, as one snapshot, and the app accepts it.
The SQLite twin (`flask db backup`) is tests/ops/test_backup.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import sqlalchemy as sa

from app.config import TestConfig, normalise_database_url
from app.extensions import db
from tests.conftest import PASSWORD, Auth, create_user
from tests.ops.conftest import add_datasets, dataset_ids
from tests.ops.test_backup import Writer, fill_with_cache_entries


@pytest.fixture
def postgresql_url(app) -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL restore drill: set TEST_DATABASE_URL to a PostgreSQL database")
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Debian: postgresql-client)")
    return normalise_database_url(url)


@pytest.fixture
def scratch_database(postgresql_url):
    """An empty database beside the test one, dropped afterwards."""
    url = sa.make_url(postgresql_url)
    name = f"{url.database}_restore_drill"
    server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with server.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def libpq_url(url: str) -> str:
    """What pg_dump takes: postgresql:// without SQLAlchemy's +driver."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_pg_dump_taken_while_the_app_writes_restores_every_committed_row(
    app, postgresql_url, scratch_database, tmp_path, make_app
):
    user = create_user("drill@example.com")
    add_datasets(1500)
    fill_with_cache_entries(megabytes=8)
    writer = Writer(app, user.id, dataset_ids())
    writer.start()
    while len(writer.committed) < 20 and writer.is_alive():
        time.sleep(0.005)
    before = list(writer.committed)  # committed before pg_dump started
    dump = tmp_path / "drill.dump"
    dumped = subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", libpq_url(postgresql_url)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    during = len(writer.committed)
    writer.stop.set()
    writer.join(10)
    assert writer.error is None, writer.error
    assert dumped.returncode == 0, dumped.stderr
    assert during > len(before), "the writer did not write while pg_dump ran"

    restored = subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={libpq_url(scratch_database)}",
            str(dump),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert restored.returncode == 0, restored.stderr

    copy = sa.create_engine(normalise_database_url(scratch_database))
    try:
        with copy.connect() as connection:
            followed = list(
                connection.scalars(
                    sa.text("SELECT dataset_id FROM follows WHERE user_id = :u ORDER BY id"),
                    {"u": user.id},
                )
            )
            datasets = connection.scalar(sa.text("SELECT count(*) FROM datasets"))
            cache_rows = connection.scalar(sa.text("SELECT count(*) FROM hub_cache"))
    finally:
        copy.dispose()
    assert followed[: len(before)] == before  # every row committed before the dump began
    assert followed == writer.committed[: len(followed)]  # one snapshot: no gaps, no strays
    assert datasets == 1500
    assert cache_rows == 8 * 250

    drill = make_app(TestConfig(scratch_database))
    client = drill.test_client()
    assert client.get("/ready").status_code == 200  # migrations at head in the copy
    assert Auth(client).login("drill@example.com", PASSWORD).status_code == 303
