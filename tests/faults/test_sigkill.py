"""The app serving SQLite killed with SIGKILL in the middle of writes: every write it answered
as done is in the database file, nothing is half-written (`PRAGMA integrity_check`), and the
file serves again. Three people follow, unfollow, add, remove and rename at once while the
process dies. (PostgreSQL behind gunicorn and nginx: tests/stack/test_stack.py.)"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from app.combinations import service as combinations
from app.config import TestConfig
from app.extensions import db
from app.models import Dataset
from tests.conftest import FIXTURES, MIGRATIONS, PASSWORD, create_user, load_jsonl
from tests.faults.conftest import AppServer, Browser, server_environment

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="SQLite's variant; PostgreSQL's is the stack test",
)
PEOPLE = ("ann", "bob", "cat")


@dataclass
class Writer:
    """One person's writes in order. `expected` holds what each answered write left behind;
    `unsure` the one write that was on its way when the server died (done or not)."""

    name: str
    combination_id: int
    browser: Browser
    token: str = ""
    expected: dict[tuple[str, str], object] = field(default_factory=dict)
    unsure: set[tuple[str, str]] = field(default_factory=set)
    answered: int = 0
    failures: list[str] = field(default_factory=list)

    def run(self, datasets: list[str], stop: threading.Event) -> None:
        step = 0
        while not stop.is_set():
            repo_id = datasets[step % len(datasets)]
            kind = ("follow", "member", "name")[step % 3]
            if kind == "name":
                key, value = ("name", ""), f"{self.name}'s mix {step}"
                path, data = f"/combinations/{self.combination_id}/rename", {"name": value}
            elif kind == "follow":
                key = ("follow", repo_id)
                value = not self.expected.get(key, False)
                action = "follow" if value else "unfollow"
                path, data = f"/follows/{repo_id}", {"action": action, "next": "/datasets"}
            else:
                key = ("member", repo_id)
                value = not self.expected.get(key, False)
                action = "add" if value else "remove"
                path = f"/combinations/{self.combination_id}/members/{repo_id}"
                data = {"action": action, "next": "/datasets"}
            try:
                response = self.browser.post(path, data, token=self.token)
            except Exception:  # the server died with this write on its way
                self.unsure.add(key)
                return
            if response.status_code != 303:
                self.failures.append(f"{path}: {response.status_code}")
                return
            self.expected[key] = value
            self.answered += 1
            step += 1


def rows(path: Path, query: str, *args) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(query, args).fetchall()
    finally:
        connection.close()


def test_sigkill_during_writes_loses_no_answered_write_and_leaves_a_sound_file(
    make_app, app_servers, tmp_path
):
    path = tmp_path / "app.db"
    database = make_app(TestConfig(f"sqlite:///{path}"))
    with database.app_context():
        upgrade(directory=str(MIGRATIONS))
        load_jsonl(FIXTURES / "catalog_small.jsonl")
        datasets = list(db.session.scalars(select(Dataset.repo_id).order_by(Dataset.id)))
        combination_ids = {}
        for name in PEOPLE:
            user = create_user(f"{name}@example.com")
            combination_ids[name] = combinations.create(db.session, user.id, f"{name}'s mix").id
        db.session.remove()
        db.engine.dispose()
    server = AppServer(server_environment(f"sqlite:///{path}", tmp_path), tmp_path).start()
    app_servers.append(server)

    writers = []
    for name in PEOPLE:
        browser = Browser(server.url, timeout=10)
        assert browser.sign_in(f"{name}@example.com", PASSWORD).status_code == 303
        writers.append(Writer(name, combination_ids[name], browser, browser.token()))
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(datasets, stop)) for w in writers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(w.answered for w in writers) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL, mid-write
    stop.set()
    for thread in threads:
        thread.join(15)

    assert all(not w.failures for w in writers), [w.failures for w in writers]
    assert sum(w.answered for w in writers) >= 60
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert rows(path, "PRAGMA foreign_key_check") == []
    for writer in writers:
        user_id = rows(path, "SELECT id FROM users WHERE email = ?", f"{writer.name}@example.com")
        followed = {
            repo_id
            for (repo_id,) in rows(
                path,
                "SELECT d.repo_id FROM follows f JOIN datasets d ON d.id = f.dataset_id "
                "WHERE f.user_id = ?",
                user_id[0][0],
            )
        }
        members = {
            repo_id
            for (repo_id,) in rows(
                path,
                "SELECT d.repo_id FROM combination_members m JOIN datasets d "
                "ON d.id = m.dataset_id WHERE m.combination_id = ?",
                writer.combination_id,
            )
        }
        name = rows(path, "SELECT name FROM combinations WHERE id = ?", writer.combination_id)
        for (kind, subject), value in writer.expected.items():
            if (kind, subject) in writer.unsure:
                continue
            if kind == "follow":
                assert (subject in followed) == value, (writer.name, kind, subject)
            elif kind == "member":
                assert (subject in members) == value, (writer.name, kind, subject)
            else:
                assert name == [(value,)], (writer.name, name, value)

    # The file serves again: a new process opens it (recovering the WAL) and answers.
    again = AppServer(server_environment(f"sqlite:///{path}", tmp_path), tmp_path).start()
    app_servers.append(again)
    browser = Browser(again.url)
    assert browser.sign_in("ann@example.com", PASSWORD).status_code == 303
    assert browser.get("/following").status_code == 200
