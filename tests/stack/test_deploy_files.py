"""The deployment files say what the app needs (these run with every `make test`).

No container engine runs here, so the Containerfile and compose.yaml are checked for what can
be checked without one: every file they name exists, images are pinned, every service has a
health check. gunicorn.conf.py is loaded as gunicorn loads it, and deploy/nginx.conf is checked
by `nginx -t` and run in front of a header-recording upstream where nginx is installed.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import yaml

from app.config import Config
from tests.stack.harness import ROOT, free_port, installed_nginx, render_nginx_conf, wait_for

CONTAINERFILE = (ROOT / "Containerfile").read_text()
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()
# Names gunicorn.conf.py writes into the environment (restored after each test).
CONF_ENV = (
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "HUB_BUDGET",
    "COMBINATION_FETCH_BUDGET",
    "EMBEDDING_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PROMETHEUS_MULTIPROC_DIR",
    "GUNICORN_ACCESS_LOG",
)


@pytest.fixture
def load_conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """load_conf(**env) -> the settings gunicorn.conf.py defines with that environment."""

    def load(**env: str) -> dict:
        for name in CONF_ENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        settings["environ"] = {name: os.environ.get(name) for name in CONF_ENV}
        return settings

    return load


def cores() -> int:
    return len(os.sched_getaffinity(0))


# --- gunicorn.conf.py -------------------------------------------------------------------------


def test_gunicorn_defaults_follow_the_cores_and_outlast_the_hub_budget(load_conf) -> None:
    conf = load_conf()
    assert conf["workers"] == max(2, cores())
    assert conf["worker_class"] == "gthread" and conf["threads"] == 4
    assert conf["preload_app"] is False  # onnxruntime is loaded after the fork
    # A cold dataset page makes up to four Hub calls of HUB_BUDGET (5 s) each.
    config = Config()
    assert conf["timeout"] > 4 * config.HUB_BUDGET
    assert conf["timeout"] > config.COMBINATION_FETCH_BUDGET
    assert conf["graceful_timeout"] == conf["timeout"]
    # The app sees the same number of workers; the model's threads share the cores.
    assert conf["environ"]["WEB_CONCURRENCY"] == str(conf["workers"])
    model_threads = int(conf["environ"]["EMBEDDING_THREADS"])
    assert conf["workers"] * model_threads <= max(cores(), conf["workers"])


def test_gunicorn_settings_come_from_the_environment(load_conf) -> None:
    conf = load_conf(WEB_CONCURRENCY="3", GUNICORN_THREADS="8", HUB_BUDGET="10")
    assert (conf["workers"], conf["threads"]) == (3, 8)
    assert conf["timeout"] == 50  # 4 x 10 s and a 10 s margin
    assert load_conf(GUNICORN_TIMEOUT="120")["timeout"] == 120
    assert load_conf(EMBEDDING_THREADS="2")["environ"]["EMBEDDING_THREADS"] == "2"


def test_the_access_log_is_json_with_the_request_id_and_no_secret_links(
    load_conf, tmp_path: Path
) -> None:
    from gunicorn.config import Config as GunicornConfig

    log_file = tmp_path / "access.log"
    conf = load_conf(GUNICORN_ACCESS_LOG=str(log_file))
    settings = GunicornConfig()
    settings.set("accesslog", conf["accesslog"])
    logger = conf["logger_class"](settings)

    def access(path: str, request_id: str | None, response_id: str | None = None) -> dict:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "REMOTE_ADDR": "203.0.113.9"}
        if request_id:
            environ["HTTP_X_REQUEST_ID"] = request_id
        headers = [("X-Request-ID", response_id)] if response_id else []
        response = SimpleNamespace(status="200 OK", headers=headers, sent=123)
        before = log_file.read_text().splitlines() if log_file.exists() else []
        logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=42))
        lines = log_file.read_text().splitlines()
        assert len(lines) == len(before) + 1
        return json.loads(lines[-1])

    record = access("/datasets", "abc-123")
    assert record["request_id"] == "abc-123" and record["status"] == 200
    assert record["path"] == "/datasets" and record["duration_ms"] == 42.0
    assert record["remote_addr"] == "203.0.113.9" and record["pid"] == os.getpid()
    # No id from nginx: the one the app answered with.
    assert access("/health", None, "made-by-the-app")["request_id"] == "made-by-the-app"
    # Secret links keep their shape but not their token.
    assert access("/feed/s3cr3t.atom", "x")["path"] == "/feed/[token].atom"
    assert access("/shared/s3cr3t/manifest.json", "x")["path"] == "/shared/[token]/manifest.json"
    assert "s3cr3t" not in log_file.read_text()
    for handler in list(logger.access_log.handlers):  # gunicorn's loggers are global
        logger.access_log.removeHandler(handler)
        handler.close()


# --- deploy/nginx.conf --------------------------------------------------------------------------


def seconds(directive: str) -> int:
    match = re.search(rf"^\s*{directive}\s+(\d+)s;", NGINX, re.M)
    assert match, f"deploy/nginx.conf has no {directive}"
    return int(match.group(1))


def test_nginx_limits_match_the_app_and_outlast_gunicorn(load_conf) -> None:
    body = re.search(r"client_max_body_size\s+(\d+)m;", NGINX)
    assert body and int(body.group(1)) * 1024 * 1024 == Config().MAX_CONTENT_LENGTH
    timeout = load_conf()["timeout"]
    assert seconds("proxy_read_timeout") > timeout
    assert seconds("proxy_send_timeout") > timeout
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID"):
        assert re.search(rf"proxy_set_header\s+{header}\s", NGINX), header
    assert "max-age=31536000, immutable" in NGINX


def nginx_in(run_dir: Path, upstream_port: int, listen_port: int) -> list[str]:
    """The nginx command line for deploy/nginx.conf pointed at these ports (skips without nginx)."""
    nginx = installed_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (make stack-test installs it)")
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "temp" / name).mkdir(parents=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(render_nginx_conf(upstream_port, listen_port, ROOT, run_dir))
    return [nginx, "-p", str(run_dir), "-c", str(conf), "-e", str(run_dir / "error.log")]


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    checked = subprocess.run(
        [*nginx_in(tmp_path, 8000, 8080), "-t"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


class HeaderRecorder(BaseHTTPRequestHandler):
    """An upstream standing in for gunicorn: answers 200 and keeps each request's headers."""

    received: list = []

    def do_GET(self) -> None:
        self.received.append(self.headers)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def test_nginx_drops_a_clients_trace_headers_and_passes_only_a_sane_request_id(
    tmp_path: Path,
) -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), HeaderRecorder)
    HeaderRecorder.received = []
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    listen = free_port()
    command = nginx_in(tmp_path, upstream.server_address[1], listen)
    nginx = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{listen}"
    try:
        wait_for(
            "nginx", lambda: requests.get(f"{base}/static/", timeout=2).status_code, timeout=10
        )
        requests.get(
            f"{base}/datasets",
            headers={
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                "tracestate": "vendor=chosen-by-the-client",
                "X-Request-ID": "client-id-42",
            },
            timeout=5,
        )
        requests.get(f"{base}/topics", headers={"X-Request-ID": 'not "an" id'}, timeout=5)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()
    traced, odd_id = HeaderRecorder.received
    # The app would continue (or, with the flag 00, not record) a trace the client named.
    assert traced.get("traceparent") is None and traced.get("tracestate") is None
    assert traced["X-Request-ID"] == "client-id-42"
    assert odd_id["X-Request-ID"] != 'not "an" id' and re.fullmatch(
        r"[0-9a-f]{32}", odd_id["X-Request-ID"]
    )
    assert odd_id["X-Forwarded-For"] == "127.0.0.1" and odd_id["X-Forwarded-Proto"] == "http"


# --- Containerfile and compose.yaml -------------------------------------------------------------


def test_the_containerfile_names_only_what_exists_and_runs_as_nobody_special() -> None:
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", CONTAINERFILE, re.M)
    assert [name for _, name in stages] == ["build", "nginx", "app"]  # app: the default target
    for image in re.findall(r"^ARG \w+_IMAGE=(\S+)", CONTAINERFILE, re.M):
        assert re.search(r":\d+\.\d+\.\d+-(slim-bookworm|alpine)$", image), image  # exact tag
    for sources in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", CONTAINERFILE, re.M):
        for source in sources.split():
            assert (ROOT / source).exists(), f"Containerfile copies {source}, which is missing"
    assert re.search(r"^USER app$", CONTAINERFILE, re.M)
    assert CONTAINERFILE.count("HEALTHCHECK") == 2
    assert 'ENTRYPOINT ["/srv/app/deploy/entrypoint.sh"]' in CONTAINERFILE
    assert "bundled_model_dir" in CONTAINERFILE  # the model is assembled and checked at build
    for script in ("entrypoint.sh", "worker.sh"):
        assert os.access(ROOT / "deploy" / script, os.X_OK), script


def test_compose_runs_the_five_services_with_health_checks_and_volumes() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "nginx", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        image = service["image"]
        # Our own images, or a release pinned to its minor version at least (postgres:16.6).
        assert image.startswith("localhost/") or re.search(r":\d+\.\d+[.\d]*(-\w+)?$", image), image
    targets = {name: s["build"]["target"] for name, s in services.items() if "build" in s}
    assert targets == {"web": "app", "worker": "app", "nginx": "nginx"}
    assert services["worker"]["entrypoint"] == ["/srv/app/deploy/worker.sh"]
    assert services["web"]["environment"]["TRUSTED_PROXIES"] == "1"
    assert set(compose["volumes"]) == {"pgdata", "redisdata"}
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert list(services["nginx"]["ports"]) and not services["web"].get("ports")
