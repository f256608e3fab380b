"""Fault tests: the fake Hub failing, private PostgreSQL and Redis servers stopped, processes
killed. Shared helpers: free ports, waiting for a port, a private redis-server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.hub.conftest import hub  # noqa: F401  (the fake Hub fixture)

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving port {port} exited ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class RedisServer:
    """A redis-server of our own on a free port: stopping it disturbs nobody else."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, process=self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@contextmanager
def config_changed(app, **values) -> Iterator[None]:
    """Change app.config for the duration of a block, and put every value back after."""
    saved = {key: app.config.get(key) for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


# The app served by werkzeug in a process of its own, configured from the environment as in
# production (Config, not TestConfig): its own rate limiter, job engine and connection pool.
SERVE = """
import sys
from werkzeug.serving import make_server
from wsgi import app
server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
server.serve_forever()
"""
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def server_environment(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "REDIS", "DATABASE_URL", "JOBS_", "HUB_", "OTEL_"))
    }
    env.update(
        DATABASE_URL=database_url,
        DATASET_EXPLORER_INSTANCE=str(instance),
        SECRET_KEY="fault-tests-secret-key-0123456789abcdef",
        HF_ENDPOINT="http://127.0.0.1:9",  # nothing listens: Hub calls fail at once
        HF_DATASETS_SERVER="http://127.0.0.1:9",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


class AppServer:
    """The app in its own process on a free port; its output goes to a log file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.port = free_port()
        self.log_path = workdir / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVE, str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout=60, process=self.process)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)


@pytest.fixture
def app_servers(tmp_path: Path) -> Iterator[list[AppServer]]:
    """Servers a test starts (append them); every one is stopped afterwards."""
    servers: list[AppServer] = []
    yield servers
    for server in servers:
        server.kill()


class Browser:
    """A person's requests to an AppServer: cookies kept, the CSRF token sent with each form,
    and every request bounded in time (a hang fails the test instead of stalling it)."""

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        self.base = base
        self.timeout = timeout
        self.session = requests.Session()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base + path, timeout=self.timeout, **kwargs)

    def token(self) -> str:
        match = CSRF_RE.search(self.get("/auth/login").text)
        assert match, "no CSRF token on the sign-in page"
        return match.group(1)

    def post(self, path: str, data: dict, token: str | None = None, **kwargs):
        data = {"csrf_token": token or self.token(), **data}
        return self.session.post(
            self.base + path, data=data, timeout=self.timeout, allow_redirects=False, **kwargs
        )

    def sign_in(self, email: str, password: str) -> requests.Response:
        return self.post("/auth/login", {"email": email, "password": password})
