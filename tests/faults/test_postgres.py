"""PostgreSQL stopped mid-load (`pg_ctl stop -m immediate`, as a crash would) and started again:
while it is down requests fail at once and cleanly (our 503 page, no traceback, no hang), and
afterwards the same app process serves again (pool_pre_ping) with every answered write kept.

The machine's shared PostgreSQL is never touched: the test makes a private instance (initdb in
a temporary directory, its own port and socket directory) and stops only that one. It runs on
PostgreSQL runs only (TEST_DATABASE_URL set)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from app.config import TestConfig
from app.extensions import db
from app.models import Dataset, Follow, User
from tests.conftest import FIXTURES, MIGRATIONS, PASSWORD, create_user, load_jsonl
from tests.faults.conftest import AppServer, Browser, free_port, server_environment
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL runs only (TEST_DATABASE_URL)"
)
REQUEST_TIMEOUT = 10.0  # a request still waiting after this long counts as a hang
ANSWER_WITHIN = 5.0
TARGET = "acme/movie-reviews"


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A PostgreSQL instance of this test's own, run as the postgres user when we are root."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data, self.sockets = self.root / "data", self.root / "sockets"
        self.port = free_port()
        self.as_postgres = []
        if os.geteuid() == 0:  # initdb refuses root
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.sockets.mkdir()
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "start", "-w", "-D", str(self.data), "-o", options,
                 "-l", str(self.root / "server.log"))  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self.run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@dataclass
class Outcome:
    at: float
    kind: str
    status: int | None  # None: no answer within REQUEST_TIMEOUT (or the connection broke)
    took: float
    following: bool | None = None  # for a follow change: the state asked for
    body: str = field(default="", repr=False)


class Load:
    """One person browsing, searching and following in a loop, until told to stop."""

    def __init__(self, base: str) -> None:
        self.browser = Browser(base, timeout=REQUEST_TIMEOUT)
        self.outcomes: list[Outcome] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.token = ""

    def run(self) -> None:
        step = 0
        while not self.stopping.is_set():
            step += 1
            if step % 3 == 0:
                following = step % 2 == 0
                action = "follow" if following else "unfollow"
                self.request("follow", following, "post", f"/follows/{TARGET}",
                             {"action": action, "next": "/datasets"})  # fmt: skip
            elif step % 3 == 1:
                self.request("search", None, "get", "/datasets?q=reviews")
            else:
                self.request("following", None, "get", "/following")
            time.sleep(0.02)

    def request(self, kind: str, following: bool | None, method: str, path: str, data=None):
        started = time.monotonic()
        try:
            if method == "post":
                response = self.browser.post(path, data, token=self.token)
            else:
                response = self.browser.get(path, allow_redirects=False)
            status, body = response.status_code, response.text
        except Exception as error:  # a hang or a broken connection: the test reports it
            status, body = None, repr(error)
        self.outcomes.append(
            Outcome(started, kind, status, time.monotonic() - started, following, body)
        )

    def sign_in(self, email: str) -> None:
        assert self.browser.sign_in(email, PASSWORD).status_code == 303
        self.token = self.browser.token()  # a new session: a new token

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(REQUEST_TIMEOUT + 5)


def test_postgres_restarted_mid_load_fails_cleanly_then_recovers_without_an_app_restart(
    private_postgres, make_app, app_servers, tmp_path
):
    database = make_app(TestConfig(private_postgres.url))
    with database.app_context():
        upgrade(directory=str(MIGRATIONS))
        load_jsonl(FIXTURES / "catalog_small.jsonl")
        create_user("ann@example.com")
        db.session.remove()
    server = AppServer(
        server_environment(private_postgres.url, tmp_path, COMBINATION_FETCH_BUDGET="0.5"),
        tmp_path,
    ).start()
    app_servers.append(server)

    load = Load(server.url)
    load.sign_in("ann@example.com")
    with load:
        wait_for(lambda: sum(o.status == 200 for o in load.outcomes) >= 6, 30)
        private_postgres.stop("immediate")
        stopped_at = time.monotonic()
        time.sleep(2)  # "the seconds it is down"
        wait_for(lambda: sum(o.at > stopped_at for o in load.outcomes) >= 8, 30)
        restarting_at = time.monotonic()
        private_postgres.start()
        started_at = time.monotonic()
        wait_for(
            lambda: sum(o.at > started_at and o.status in (200, 303) for o in load.outcomes) >= 8,
            30,
        )

    outcomes = load.outcomes
    hung = [o for o in outcomes if o.status is None or o.took > ANSWER_WITHIN]
    assert not hung, hung[:3]
    assert all("Traceback" not in o.body for o in outcomes)
    down = [o for o in outcomes if stopped_at < o.at and o.at + o.took < restarting_at]
    assert down, "no request was made while PostgreSQL was down"
    assert {o.status for o in down} <= {503}, sorted({o.status for o in down})
    assert all("database" in o.body.lower() for o in down)
    # Back without restarting the app: everything after the restart settles to success.
    after = [o for o in outcomes if o.at > started_at]
    first_good = next(i for i, o in enumerate(after) if o.status in (200, 303))
    assert all(o.status in (200, 303) for o in after[first_good:]), [o.status for o in after]
    assert server.process.poll() is None
    assert "Traceback" not in server.log()

    # Every follow change that was answered as done is what the database holds now.
    last_done = [o.following for o in outcomes if o.kind == "follow" and o.status == 303][-1]
    with database.app_context():
        user = db.session.scalar(select(User).where(User.email == "ann@example.com"))
        target = db.session.scalar(select(Dataset.id).where(Dataset.repo_id == TARGET))
        follows = db.session.scalars(
            select(Follow).where(Follow.user_id == user.id, Follow.dataset_id == target)
        ).all()
        assert len(follows) == (1 if last_done else 0)
        db.session.remove()
