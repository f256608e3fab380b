"""The real stack on loopback: PostgreSQL, Redis, the fake Hub, gunicorn, an RQ worker, nginx.

Everything is started the way an operator would run it: gunicorn through deploy/entrypoint.sh
(the script the container image runs), the worker through deploy/worker.sh, nginx with
deploy/nginx.conf itself (only its lines marked "stack test:" are replaced). Each
process gets its own session (process group), and `Stack.stop()` ends exactly those groups,
first with SIGTERM, then SIGKILL, whatever happened before.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
STARTER = ROOT / "app" / "catalog" / "data" / "starter_catalog.jsonl"

POSTGRES_SERVER = os.environ.get("STACK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")
DATABASE_NAME = "dataset_explorer_stack"  # dropped and recreated by every run
REDIS_URL = os.environ.get("STACK_REDIS_URL", "redis://127.0.0.1:6379/5")  # flushed each run


def say(message: str) -> None:
    print(f"[stack {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
    """Call `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:  # not up yet
            last_error = error
        else:
            if result:
                return result
        time.sleep(every)
    raise TimeoutError(f"{what} not within {timeout:.0f} s (last error: {last_error})")


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


# --- nginx ---------------------------------------------------------------------------------------


def render_nginx_conf(upstream_port: int, listen_port: int, app_root: Path, run_dir: Path) -> str:
    """deploy/nginx.conf with its marked lines pointed at this run, inside a main config
    whose pid, logs and temporary files live in `run_dir`."""
    server = NGINX_CONF.read_text()
    replacements = {
        r"server web:8000;(\s*# stack test: upstream)": f"server 127.0.0.1:{upstream_port};\\1",
        r"listen 80;(\s*# stack test: listen)": f"listen 127.0.0.1:{listen_port};\\1",
        r"root /srv/app;(\s*# stack test: root[^\n]*)": f"root {app_root};\\1",
        r"access_log /var/log/nginx/access.log": f"access_log {run_dir / 'nginx-access.log'}",
        r"/var/cache/nginx/dataset-explorer(.*# stack test: cache)": f"{run_dir / 'cache'}\\1",
    }
    for pattern, replacement in replacements.items():
        server, count = re.subn(pattern, replacement, server)
        if count != 1:
            raise AssertionError(f"deploy/nginx.conf no longer has exactly one {pattern!r}")
    (run_dir / "dataset-explorer.conf").write_text(server)
    # As root, nginx's workers would otherwise switch to "nobody", who cannot use run_dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {run_dir / 'temp' / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {run_dir / "nginx.pid"};
error_log {run_dir / "nginx-error.log"} warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
{temp}
    include {run_dir / "dataset-explorer.conf"};
}}
"""


def installed_nginx() -> str | None:
    """nginx's path, or None when it is not installed."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def ensure_nginx() -> str:
    found = installed_nginx()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("nginx is missing and cannot be installed here (needs root and apt-get)")
    say("nginx is missing: installing Debian's nginx with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx"], check=True, env=env)
    return shutil.which("nginx") or "/usr/sbin/nginx"


# --- The stack -----------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    run_dir: Path
    services: dict[str, Service] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    database_url: str = ""
    gunicorn_port: int = 0
    nginx_port: int = 0
    hub_url: str = ""

    @property
    def url(self) -> str:
        """The only address the journey uses: nginx."""
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def access_log(self) -> Path:
        return self.run_dir / "gunicorn-access.log"

    # --- processes --------------------------------------------------------------------------

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Service:
        log = self.run_dir / f"{name}.log"
        stream = log.open("wb")
        try:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, ended as one in stop()
            )
        finally:
            stream.close()
        service = Service(name, process, log)
        self.services[name] = service
        return service

    def run(self, what: str, command: list[str], timeout: float = 120, **env: str) -> str:
        """Run a command to completion with the stack's environment (and `env`); fail with its
        output."""
        say(what)
        result = subprocess.run(
            command,
            cwd=ROOT,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def alive(self, name: str) -> None:
        service = self.services[name]
        if service.process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {service.process.returncode}:\n{service.tail()}"
            )

    def stop(self) -> None:
        """End every process group started here: SIGTERM, then SIGKILL after 10 s."""
        for service in reversed(list(self.services.values())):
            if service.process.poll() is None:
                say(f"stopping {service.name} (pid {service.process.pid})")
            try:
                os.killpg(service.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for service in reversed(list(self.services.values())):
            try:
                service.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                say(f"{service.name} did not stop in 10 s: SIGKILL")
            try:  # whatever is left in the group (workers of a killed master)
                os.killpg(service.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                service.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                say(f"{service.name} (pid {service.process.pid}) is still there")

    # --- what the tests look at -------------------------------------------------------------

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://"))

    def gunicorn_master(self) -> int:
        return self.services["web"].process.pid

    def gunicorn_workers(self) -> list[int]:
        return children_of(self.gunicorn_master())

    def access_records(self) -> list[dict]:
        records = []
        for line in self.access_log.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records


def reset_database(name: str = DATABASE_NAME) -> str:
    """Drop and recreate one of the stack's own databases; return its URL."""
    admin = sa.create_engine(
        POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://") + "postgres",
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return POSTGRES_SERVER + name


def drop_database(name: str) -> None:
    admin = sa.create_engine(
        POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://") + "postgres",
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def reset_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()  # this database number only
    finally:
        client.close()


def start(run_dir: Path) -> Stack:
    """Start the whole stack; on any failure, stop what was started and re-raise."""
    stack = Stack(run_dir=run_dir)
    try:
        _start(stack)
    except BaseException:
        for service in stack.services.values():
            say(f"--- last lines of {service.name} ---\n{service.tail()}")
        stack.stop()
        raise
    return stack


def _start(stack: Stack) -> None:
    run_dir = stack.run_dir
    nginx = ensure_nginx()
    (run_dir / "instance").mkdir()
    (run_dir / "metrics").mkdir()
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "temp" / name).mkdir(parents=True)

    say(f"PostgreSQL: recreating database {DATABASE_NAME}")
    stack.database_url = reset_database()
    say(f"Redis: flushing {REDIS_URL} (this database only)")
    reset_redis()

    stack.gunicorn_port, stack.nginx_port, hub_port = free_port(), free_port(), free_port()
    stack.hub_url = f"http://127.0.0.1:{hub_port}"
    keep = {
        name: value
        for name, value in os.environ.items()
        if name
        in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    stack.env = {
        **keep,
        "PATH": f"{VENV_BIN}{os.pathsep}{keep.get('PATH', '/usr/bin:/bin')}",
        "PYTHONUNBUFFERED": "1",
        "DATASET_EXPLORER_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": REDIS_URL,
        "TRUSTED_PROXIES": "1",
        "HF_ENDPOINT": stack.hub_url,
        "HF_DATASETS_SERVER": stack.hub_url,
        "DATASET_EXPLORER_INSTANCE": str(run_dir / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(run_dir / "metrics"),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_BIND": f"127.0.0.1:{stack.gunicorn_port}",
        "GUNICORN_ACCESS_LOG": str(stack.access_log),
        "LOAD_STARTER_CATALOG": "1",
    }

    say(f"fake Hub with the starter catalog on {stack.hub_url}")
    stack.spawn(
        "fakehub",
        [
            sys.executable,
            "-m",
            "tests.fakehub",
            "--catalog",
            str(STARTER),
            "--port",
            str(hub_port),
            "--no-rate-limit",
        ],
    )
    wait_for(
        "the fake Hub",
        lambda: requests.get(stack.hub_url + "/api/datasets?limit=1", timeout=2).ok,
        30,
    )

    say(
        "deploy/entrypoint.sh: migrate, load the starter catalog, gunicorn (2 workers) "
        f"on :{stack.gunicorn_port}"
    )
    stack.spawn("web", ["sh", str(ROOT / "deploy" / "entrypoint.sh")])

    def web_up() -> bool:
        stack.alive("web")
        return requests.get(f"http://127.0.0.1:{stack.gunicorn_port}/health", timeout=2).ok

    wait_for("gunicorn answering /health", web_up, 90)
    wait_for("two gunicorn workers", lambda: len(stack.gunicorn_workers()) == 2, 30)

    say("deploy/worker.sh: an RQ worker on the same Redis")
    stack.spawn("worker", ["sh", str(ROOT / "deploy" / "worker.sh")])

    say(f"nginx (deploy/nginx.conf) on :{stack.nginx_port}, static files from {ROOT / 'static'}")
    conf = run_dir / "nginx.conf"
    conf.write_text(render_nginx_conf(stack.gunicorn_port, stack.nginx_port, ROOT, run_dir))
    base = [nginx, "-p", str(run_dir), "-c", str(conf), "-e", str(run_dir / "nginx-error.log")]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration:\n{checked.stderr}")
    stack.spawn("nginx", [*base, "-g", "daemon off;"])

    def nginx_up() -> bool:
        stack.alive("nginx")
        return requests.get(stack.url + "/health", timeout=2).ok

    wait_for("nginx proxying /health", nginx_up, 30)

    say("waiting for the RQ worker to embed the starter catalog (the job load-starter queued)")
    engine = stack.engine()
    try:

        def embedded() -> bool:
            stack.alive("worker")
            with engine.connect() as connection:
                status = connection.execute(
                    sa.text(
                        "SELECT status, message FROM jobs WHERE kind = 'embed' ORDER BY id LIMIT 1"
                    )
                ).first()
            if status is not None and status[0] == "failed":
                raise AssertionError(f"the embed job failed: {status[1]}")
            return status is not None and status[0] == "done"

        wait_for("the embed job done by the RQ worker", embedded, 150, every=1)
        with engine.connect() as connection:
            vectors = connection.execute(
                sa.text("SELECT count(*) FROM dataset_embeddings")
            ).scalar()
        say(f"{vectors} datasets embedded by the worker")
    finally:
        engine.dispose()
    stack.run(
        "flask topics fit (the topic model the coverage section reads)", ["flask", "topics", "fit"]
    )
