"""`flask db backup PATH`: a consistent SQLite copy while the app writes; pg_dump for PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from flask_migrate.cli import db as db_commands

from app.config import TestConfig
from app.extensions import db
from app.models import Follow, HubCacheEntry
from tests.conftest import MIGRATIONS, PASSWORD, Auth, create_user
from tests.ops.conftest import add_datasets, dataset_ids

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_sqlite(tmp_path, make_app):
    """An app on a SQLite file of its own (whatever TEST_DATABASE_URL says), migrated."""
    app = make_app(TestConfig(f"sqlite:///{tmp_path / 'live.db'}"))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        yield app
        db.session.remove()


def backup(app, *args: str):
    return app.test_cli_runner().invoke(db_commands, ["backup", *args])


def fill_with_cache_entries(megabytes: int) -> None:
    """Enough bulk that copying the database takes a while."""
    payload = "x" * 4000
    now = datetime.now(UTC)
    rows = [
        {"key": f"bulk:{number}", "payload": payload, "fetched_at": now}
        for number in range(megabytes * 250)
    ]
    db.session.execute(sa.insert(HubCacheEntry), rows)
    db.session.commit()


class Writer(threading.Thread):
    """Follows one dataset after another, a commit each, until told to stop."""

    def __init__(self, app, user_id: int, ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.app, self.user_id, self.ids = app, user_id, ids
        self.committed: list[int] = []  # dataset ids, in commit order
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.app.app_context():
                for dataset_id in self.ids:
                    if self.stop.is_set():
                        break
                    db.session.add(Follow(user_id=self.user_id, dataset_id=dataset_id))
                    db.session.commit()
                    self.committed.append(dataset_id)
                db.session.remove()
        except BaseException as error:  # reported by the test
            self.error = error


def test_a_backup_taken_while_the_app_writes_is_consistent_and_restores(
    live_sqlite, tmp_path, make_app
):
    user = create_user("restore@example.com")
    add_datasets(1500)
    fill_with_cache_entries(megabytes=24)
    writer = Writer(live_sqlite, user.id, dataset_ids())
    db.session.commit()  # no read transaction of ours stays open meanwhile
    writer.start()
    while len(writer.committed) < 20 and writer.is_alive():
        time.sleep(0.005)
    before = list(writer.committed)  # committed before the backup started
    target = tmp_path / "backup.db"
    result = backup(live_sqlite, str(target))
    during = len(writer.committed)
    writer.stop.set()
    writer.join(10)
    assert writer.error is None, writer.error
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output
    assert during > len(before), "the writer did not write while the backup ran"

    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        followed = [
            row[0]
            for row in copy.execute(
                "SELECT dataset_id FROM follows WHERE user_id = ? ORDER BY id", (user.id,)
            )
        ]
        cache_rows = copy.execute("SELECT count(*) FROM hub_cache").fetchone()[0]
    finally:
        copy.close()
    assert followed[: len(before)] == before  # every row committed before it started
    assert followed == writer.committed[: len(followed)]  # one snapshot: no gaps, no strays
    assert cache_rows == 24 * 250
    assert not os.path.exists(target.with_name("backup.db-wal"))

    restored = make_app(TestConfig(f"sqlite:///{target}"))
    client = restored.test_client()
    assert client.get("/ready").status_code == 200
    assert Auth(client).login("restore@example.com", PASSWORD).status_code == 303


def test_a_backup_never_overwrites_unless_forced(live_sqlite, tmp_path):
    target = tmp_path / "backup.db"
    target.write_text("an older backup")
    result = backup(live_sqlite, str(target))
    assert result.exit_code == 1
    assert "exists already" in result.output and "--force" in result.output
    assert target.read_text() == "an older backup"
    result = backup(live_sqlite, str(target), "--force")
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"SQLite format 3")


def test_a_folder_gets_a_time_stamped_file(live_sqlite, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    result = backup(live_sqlite, str(folder))
    assert result.exit_code == 0, result.output
    [made] = list(folder.iterdir())
    assert made.name.startswith("live-") and made.suffix == ".db"
    assert str(made) in result.output
    assert not list(folder.glob(".*"))  # no partial file left behind


def test_a_backup_into_a_missing_folder_says_so(live_sqlite, tmp_path):
    result = backup(live_sqlite, str(tmp_path / "no" / "such" / "backup.db"))
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_postgresql_is_pointed_at_pg_dump(make_app, tmp_path):
    config = TestConfig("postgresql://operator:VerySecret42@db.internal:5432/explorer")
    app = make_app(config)  # nothing is asked of that server: the command only reads the URL
    result = backup(app, str(tmp_path / "explorer.dump"))
    assert result.exit_code == 1
    assert "pg_dump --format=custom" in result.output
    assert "pg_restore" in result.output
    assert "postgresql://operator:***@db.internal:5432/explorer" in result.output
    assert "VerySecret42" not in result.output and "+psycopg" not in result.output
    assert not (tmp_path / "explorer.dump").exists()


def test_flask_db_backup_is_a_command_of_the_flask_cli(tmp_path):
    database = tmp_path / "cli.db"
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.execute("INSERT INTO t VALUES (42)")
        connection.commit()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DATASET_EXPLORER_INSTANCE": str(tmp_path / "instance"),
        "FLASK_APP": "wsgi",
    }
    env.pop("DATASET_EXPLORER_ENV", None)
    flask = Path(sys.executable).with_name("flask")
    completed = subprocess.run(
        [str(flask), "db", "backup", str(tmp_path / "copy.db")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    with closing(sqlite3.connect(tmp_path / "copy.db")) as connection:
        assert connection.execute("SELECT x FROM t").fetchall() == [(42,)]
