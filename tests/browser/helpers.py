"""Small helpers shared by the browser tests."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page


def assert_no_axe_violations(page: Page, when: str) -> None:
    """Run axe-core on the page as it is; fail with its readable report."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    if results.violations_count:
        pytest.fail(f"axe found problems {when}:\n{results.generate_report()}", pytrace=False)
