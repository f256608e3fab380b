"""Browser fixtures: a live server with the small catalog, Debian chromium driven by Playwright.

The tests skip when /usr/bin/chromium is missing, unless REQUIRE_BROWSER_TESTS=1, which turns
that into a failure (CI sets it so a missing browser cannot pass silently).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db
from tests.conftest import FIXTURES, empty_tables, load_jsonl

BROWSER_DIR = Path(__file__).parent
CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("REQUIRE_BROWSER_TESTS") == "1"
# Playwright must never download a browser here: Debian's chromium, offline, quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Page,
        Request,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - the test extra is not installed
    sync_playwright = None


def _unavailable() -> str | None:
    if sync_playwright is None:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: install Debian's chromium (make browser-deps)"
    return None


def _in_this_folder(item: pytest.Item) -> bool:
    return BROWSER_DIR in Path(item.path).parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _unavailable()
    for item in items:
        if not _in_this_folder(item):
            continue
        item.add_marker(pytest.mark.browser)
        if reason and not REQUIRED:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {reason}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing test body, fail it if its pages logged errors or broke the CSP."""
    result = yield
    recorder = getattr(item, "funcargs", {}).get("browser_errors")
    if recorder is not None:
        recorder.check()
    return result


# --- The live server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(migrated_app: Flask) -> Iterator[str]:
    """The app, with catalog_small.jsonl loaded, served on a free local port; yields its URL."""
    with migrated_app.app_context():
        empty_tables()
        load_jsonl(FIXTURES / "catalog_small.jsonl")
        db.session.remove()
    # Request lines would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, migrated_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with migrated_app.app_context():
            empty_tables()  # leave the database as the other tests expect to find it
            db.session.remove()
            db.engine.dispose()


# --- The browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = _unavailable()
    if reason:
        pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {reason}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


# Runs before any page script: records CSP violations on window and hands them to the test.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var violation = {
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
    page: location.href,
  };
  window.__cspViolations.push(violation);
  if (window.__reportCspViolation) window.__reportCspViolation(violation);
});
"""


@dataclass
class BrowserErrors:
    """Console errors, uncaught exceptions and CSP violations seen during one test."""

    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Tolerate console errors matching `pattern` (an expected 400 page, say)."""
        self.allowed.append(re.compile(pattern))

    def watch(self, page: Page) -> Page:
        self.pages.append(page)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught exception: {error}"))
        # An aborted or refused request is work thrown away (or a broken link); say which.
        page.on("requestfailed", self._request_failed)
        page.expose_function(
            "__reportCspViolation",
            lambda violation: self.problems.append(f"CSP violation: {violation}"),
        )
        return page

    def _request_failed(self, request: Request) -> None:
        if not request.url.endswith("/favicon.ico"):
            self.problems.append(
                f"request failed: {request.method} {request.url} {request.failure}"
            )

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if any(pattern.search(message.text) for pattern in self.allowed):
            return
        where = message.location.get("url", "")
        # Chromium asks for /favicon.ico on its own; the app has none yet (a known gap).
        if where.endswith("/favicon.ico"):
            return
        self.problems.append(f"console error: {message.text} ({where})")

    def check(self) -> None:
        for page in self.pages:
            # Violations the binding could not report (e.g. raised while it was being set up).
            if page.is_closed():
                continue
            try:
                recorded = page.evaluate("window.__cspViolations || []")
            except Exception:  # JavaScript off, or the page is mid-navigation
                recorded = []
            for violation in recorded:
                text = f"CSP violation: {violation}"
                if text not in self.problems:
                    self.problems.append(text)
        if self.problems:
            pytest.fail("The browser reported problems:\n  " + "\n  ".join(self.problems))


@pytest.fixture
def browser_errors() -> BrowserErrors:
    return BrowserErrors()


@pytest.fixture
def new_context(browser: Browser, live_server: str) -> Iterator[Callable[..., BrowserContext]]:
    """Make browser contexts on the live server (options as for browser.new_context)."""
    contexts: list[BrowserContext] = []

    def make(**options) -> BrowserContext:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=live_server, **options)
        context.add_init_script(CSP_LISTENER)
        context.set_default_timeout(5_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext], browser_errors: BrowserErrors) -> Page:
    return browser_errors.watch(new_context().new_page())


@pytest.fixture
def no_js_page(new_context: Callable[..., BrowserContext], browser_errors: BrowserErrors) -> Page:
    """A page in a context with JavaScript disabled: htmx and app.js never run."""
    return browser_errors.watch(new_context(java_script_enabled=False).new_page())


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
