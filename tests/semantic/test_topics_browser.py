"""axe-core on the topic pages, in Debian chromium: without a model, the map, and one topic.

Skips when Playwright or /usr/bin/chromium is missing, unless REQUIRE_BROWSER_TESTS=1.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db
from app.semantic.topics import fit_topic_model
from tests.conftest import FIXTURES, empty_tables, load_jsonl
from tests.semantic.test_topics import topic_embedder  # noqa: F401  (the session's real model)

pytestmark = pytest.mark.browser

browser_conftest = pytest.importorskip("tests.browser.conftest")
if browser_conftest._unavailable() and not browser_conftest.REQUIRED:
    pytest.skip(
        f"browser tests skipped: {browser_conftest._unavailable()}", allow_module_level=True
    )


@pytest.fixture
def topic_server(migrated_app: Flask) -> Iterator[str]:
    """The app with the small catalog (no topic model yet) on a free local port."""
    with migrated_app.app_context():
        empty_tables()
        load_jsonl(FIXTURES / "catalog_small.jsonl")
        db.session.remove()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, migrated_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="topics-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with migrated_app.app_context():
            empty_tables()
            db.session.remove()


def test_axe_finds_no_violations_on_the_topic_pages(
    migrated_app: Flask,
    topic_server: str,
    topic_embedder,  # noqa: F811
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.helpers import assert_no_axe_violations

    errors = browser_conftest.BrowserErrors()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(browser_conftest.CHROMIUM),
            args=browser_conftest.CHROMIUM_ARGS,
            headless=True,
        )
        try:
            context = browser.new_context(
                base_url=topic_server, viewport={"width": 1280, "height": 900}
            )
            context.add_init_script(browser_conftest.CSP_LISTENER)
            context.set_default_timeout(5_000)
            page = errors.watch(context.new_page())

            page.goto("/topics")
            assert page.get_by_text("There is no topic model yet").is_visible()
            assert_no_axe_violations(page, "on the topic map without a model")

            with migrated_app.app_context():
                fit_topic_model(db.session, topic_embedder)
                db.session.remove()
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                page.goto("/topics")
                assert page.get_by_role("img").count() == 1
                assert_no_axe_violations(page, f"on the topic map ({scheme})")
                page.get_by_role("link", name="Topic 1:").click()
                page.wait_for_url("**/topics/1")
                assert_no_axe_violations(page, f"on topic 1 ({scheme})")
            errors.check()
        finally:
            browser.close()
