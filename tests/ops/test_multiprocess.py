"""Multiprocess /metrics (gunicorn workers) and the JSON log lines of a process, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_workers_are_added_up_and_dead_workers_drop_out_of_live_gauges(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from the last run")
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_FORMAT": "json",
        "LOG_REQUESTS": "1",
        "DATASET_EXPLORER_INSTANCE": str(tmp_path / "instance"),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "tests.ops.multiprocess_probe", f"sqlite:///{tmp_path}/mp.db"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    scrapes = json.loads(completed.stdout)

    health = {"endpoint": "ops.health", "method": "GET", "status": "200"}
    name = "dataset_explorer_http_requests_total"
    assert value(scrapes["before"], name, **health) == 5  # 3 in the worker + 2 in the parent
    assert value(scrapes["after"], name, **health) == 5  # counters outlive their worker
    breaker = "dataset_explorer_hub_circuit_breaker_open"
    assert value(scrapes["before"], breaker) == 1  # the live worker's breaker is open
    assert value(scrapes["after"], breaker) == 0  # gone with the worker
    assert not (metrics_dir / "counter_999999.db").exists()  # emptied at start
    assert list(metrics_dir.glob(f"counter_{scrapes['worker_pid']}.db"))

    # The process had no log handler of its own: it wrote one JSON object per line.
    lines = [json.loads(line) for line in completed.stderr.splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "app.request"]
    assert len(requests) >= 7
    from_worker = [line for line in requests if line.get("request_id") == "from-the-worker"]
    assert len(from_worker) == 3
    assert all(
        line["path"] == "/health" and line["status"] == 200 and "duration_ms" in line
        for line in from_worker
    )
    assert all(len(line["request_id"]) == 32 for line in requests if line not in from_worker)
