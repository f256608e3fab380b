"""axe-core on the topic pages: without a model, the map in light and dark, and one topic.

Uses the shared browser (one Playwright per run: a second sync Playwright in the same process
fails) and the module's live server with the small catalog.
"""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from app.semantic.topics import fit_topic_model
from tests.browser.helpers import assert_no_axe_violations
from tests.semantic.conftest import topic_embedder  # noqa: F401  (the session's real model)

pytestmark = pytest.mark.browser


def test_axe_finds_no_violations_on_the_topic_pages(
    migrated_app: Flask,
    live_server: str,
    page: Page,
    topic_embedder,  # noqa: F811
) -> None:
    page.goto("/topics")
    expect(page.get_by_text("There is no topic model yet")).to_be_visible()
    assert_no_axe_violations(page, "on the topic map without a model")

    with migrated_app.app_context():
        fit_topic_model(db.session, topic_embedder)
        db.session.remove()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto("/topics")
        expect(page.get_by_role("img")).to_have_count(1)
        assert_no_axe_violations(page, f"on the topic map ({scheme})")
        page.get_by_role("link", name="Topic 1:").click()
        page.wait_for_url("**/topics/1")
        assert_no_axe_violations(page, f"on topic 1 ({scheme})")
