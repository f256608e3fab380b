"""The real-stack test (test_stack.py) runs only when asked: `make stack-test` (STACK_TEST=1).

The checks of the deployment files (test_deploy_files.py) run with every `make test`. The
stack test needs root or an installed nginx, PostgreSQL at 127.0.0.1:5432, Redis at
127.0.0.1:6379 and Debian's chromium, and takes a minute or two: `make test` skips it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.stack import harness

ENABLED = os.environ.get("STACK_TEST") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="the real-stack test runs with STACK_TEST=1 (make stack-test)")
    for item in items:
        if str(item.path).replace(os.sep, "/").endswith("tests/stack/test_stack.py"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Stack]:
    started = harness.start(tmp_path_factory.mktemp("stack"))
    try:
        yield started
    finally:
        started.stop()
        harness.say(f"everything stopped; logs were in {started.run_dir}")
