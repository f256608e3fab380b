"""With REDIS_URL set, rate-limit counters live in Redis, so every worker shares them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

redis = pytest.importorskip("redis")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Two app instances, as two gunicorn workers would be, in a process of their own (the limiter
# is one per process). Each makes 5 failed sign-ins for the same account; the limit is 10 per
# 15 minutes, so the next attempt, through either instance, must be refused.
WORKERS = """
import re, sys
from app import create_app
from app.config import TestConfig
config = TestConfig(sys.argv[1])
config.RATELIMIT_STORAGE_URI = sys.argv[2]
workers = [create_app(config).test_client() for _ in range(2)]
statuses = []
for attempt in range(11):
    client = workers[attempt % 2]
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post("/auth/login", data={"csrf_token": token,
        "email": "ann@example.com", "password": "wrong passphrase"})
    statuses.append(response.status_code)
print(" ".join(map(str, statuses)))
"""


def test_failed_sign_ins_are_counted_in_redis_across_workers(app, database_url):
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    connection.flushdb()
    result = subprocess.run(
        [sys.executable, "-c", WORKERS, database_url, REDIS_URL],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
        check=True,
    )
    statuses = result.stdout.split()
    assert statuses == ["422"] * 10 + ["429"]
    assert any(b"login" in key for key in connection.keys("*"))
    connection.flushdb()
    connection.close()
