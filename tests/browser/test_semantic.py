"""The combination report's "What the combination covers", by keyboard alone.

A combination of three small-catalog datasets (made through the service layer), the catalog's
topic model fitted with the session's real model and the app using that same model: the report
shows the assessment with its topic coverage. From the sign-in page on, only keys: Tab reaches
the map's member points (each announced as in the combination) and the table beside the map,
then a suggestion's "Add to combination", which Enter presses in place (focus stays on it) and
the tray counts one more. axe-core in light and dark; the browser's errors fail the test.
And the whole journey by keys: sign in, search, add three results, open the report from the
tray, read both assessments.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from app.combinations import service
from app.extensions import db
from app.models import Dataset, User
from app.semantic.topics import fit_topic_model
from tests.browser.helpers import (
    account_maker,
    assert_no_axe_violations,
    reset_limits,
    tab_until,
)
from tests.semantic.conftest import topic_embedder  # noqa: F401  (the session's real model)

pytestmark = pytest.mark.browser

PASSWORD = "a long unusual passphrase 42"
NAME = "My combination"
MEMBERS = ["squad", "acme/movie-reviews", "acme/news-summaries"]

_numbers = itertools.count(1)


def unique_email(tag: str) -> str:
    return f"semantic-{tag}.{next(_numbers)}@example.org"


# --- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_limits(migrated_app: Flask, live_server: str) -> None:
    reset_limits(migrated_app)


@pytest.fixture
def make_account(migrated_app: Flask) -> Callable[[str], str]:
    return account_maker(migrated_app, unique_email)


@pytest.fixture
def combination_of(migrated_app: Flask) -> Callable[[str, list[str]], int]:
    """combination_of(email, repo_ids) -> id: the account's active combination of these."""

    def make(email: str, repo_ids: list[str]) -> int:
        with migrated_app.app_context():
            user_id = db.session.scalar(select(User.id).where(User.email == email))
            combination = service.active_or_new(db.session, user_id)
            for repo_id in repo_ids:
                dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
                service.set_member(db.session, combination, dataset, True)
            combination_id = combination.id
            db.session.remove()
        return combination_id

    return make


@pytest.fixture
def topics_fitted(
    migrated_app: Flask,
    live_server: str,
    topic_embedder,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):
    """The catalog embedded and its topic model fitted; the app uses the same model."""
    monkeypatch.setitem(migrated_app.extensions, "embedder", topic_embedder)
    with migrated_app.app_context():
        fit_topic_model(db.session, topic_embedder)
        db.session.remove()
    return topic_embedder


# --- What a person sees --------------------------------------------------------------------------


def section(page: Page) -> Locator:
    return page.locator("section.semantic")


def tray_summary(page: Page) -> Locator:
    return page.locator("header #selection-tray summary")


def tray_text(count: int) -> str:
    return f"Combination “{NAME}”: {count} dataset{'' if count == 1 else 's'}"


def sign_in_by_keyboard(page: Page, email: str) -> None:
    """From the sign-in page already open: Tab to the address, type, Tab, type, Enter."""
    tab_until(page, lambda e: e["tag"] == "INPUT" and e["name"] == "email")
    page.keyboard.type(email)
    tab_until(page, lambda e: e["tag"] == "INPUT" and e["name"] == "password")
    page.keyboard.type(PASSWORD)
    before = page.url
    page.keyboard.press("Enter")
    expect(page).not_to_have_url(before)
    expect(page.locator("header").get_by_role("button", name="Sign out")).to_be_visible()
    page.wait_for_load_state()


# --- The test ------------------------------------------------------------------------------------


def test_the_coverage_section_by_keyboard_alone(
    page: Page, live_server: str, make_account, combination_of, topics_fitted
) -> None:
    email = make_account("keys")
    number = combination_of(email, MEMBERS)
    page.goto(f"/auth/login?next=%2Fcombinations%2F{number}")
    sign_in_by_keyboard(page, email)
    expect(page).to_have_url(f"{live_server}/combinations/{number}")

    covers = section(page)
    expect(covers.get_by_role("heading", name="What the combination covers")).to_be_visible()
    expect(covers.get_by_role("heading", name="Topics reached")).to_be_visible()
    expect(covers.locator("#topics-caption")).to_be_visible()  # coverage, not "appears once..."
    expect(tray_summary(page)).to_have_text(tray_text(len(MEMBERS)))

    # The map: each member is a focusable point announced as in the combination.
    points = covers.locator("figure.semantic-map a.map-member")
    expect(points).to_have_count(len(MEMBERS))
    reached = set()
    for _ in MEMBERS:
        point = tab_until(
            page,
            lambda e: (
                e["inMap"]
                and (e["label"] or "").split(":")[0] in MEMBERS
                and (e["label"] or "").split(":")[0] not in reached
            ),
        )
        repo_id, _, rest = point["label"].partition(": ")
        assert rest.startswith("in the combination"), point
        reached.add(repo_id)
    assert reached == set(MEMBERS)

    # The table alternative: the next stops are its summary and its scrollable region.
    summary = tab_until(page, lambda e: e["inMapData"])
    assert summary["tag"] == "SUMMARY", summary
    page.keyboard.press("Enter")
    data = covers.locator("details.map-data")
    expect(data).to_have_attribute("open", "")
    rows = data.locator("tbody > tr")
    for repo_id in MEMBERS:
        expect(
            rows.filter(has=page.get_by_role("rowheader", name=repo_id, exact=True))
        ).to_have_count(1)
        expect(
            rows.filter(has=page.get_by_role("rowheader", name=repo_id, exact=True))
            .locator("td")
            .first
        ).to_have_text("member")

    # A suggestion's "Add to combination", reached backwards from the map, pressed by Enter.
    suggestions = covers.locator("ul.suggestion-list > li")
    expect(suggestions.first).to_be_visible()
    button = tab_until(
        page,
        lambda e: e["inSuggestions"] and e["tag"] == "BUTTON" and e["pressed"] == "false",
        key="Shift+Tab",
    )
    repo_id = button["label"].removeprefix("Add ").removesuffix(" to the combination")
    assert repo_id not in MEMBERS and button["text"] == "Add to combination", button
    page.keyboard.press("Enter")
    pressed = covers.get_by_role("button", name=f"Remove {repo_id} from the combination")
    expect(pressed).to_have_attribute("aria-pressed", "true")
    expect(pressed).to_have_text("In combination ✓")
    expect(pressed).to_be_focused()
    expect(tray_summary(page)).to_have_text(tray_text(len(MEMBERS) + 1))


def test_axe_finds_no_violations_on_the_coverage_section(
    page: Page, live_server: str, make_account, combination_of, topics_fitted
) -> None:
    email = make_account("axe")
    number = combination_of(email, MEMBERS)
    page.goto(f"/auth/login?next=%2Fcombinations%2F{number}")
    sign_in_by_keyboard(page, email)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(f"/combinations/{number}")
        expect(section(page).locator("figure.semantic-map")).to_be_visible()
        expect(section(page).locator("#topics-caption")).to_be_visible()
        section(page).locator("details.map-data > summary").press("Enter")
        expect(section(page).locator("details.map-data")).to_have_attribute("open", "")
        assert_no_axe_violations(page, f"on the report with its coverage ({scheme})")


def test_the_whole_journey_by_keyboard_from_search_to_both_assessments(
    page: Page, live_server: str, make_account, topics_fitted
) -> None:
    """Sign in, search, add three results, open the report from the tray, read both
    assessments: only keys, with htmx doing the swaps."""
    email = make_account("journey")
    page.goto("/auth/login?next=%2Fdatasets")
    sign_in_by_keyboard(page, email)
    expect(page).to_have_url(f"{live_server}/datasets")

    searches = {
        "squad": "squad",
        "acme/movie-reviews": "movie reviews",
        "acme/news-summaries": "news summaries",
    }
    for count, (repo_id, words) in enumerate(searches.items(), start=1):
        page.keyboard.press("/")
        expect(page.locator("#q")).to_be_focused()
        page.keyboard.press("Control+A")
        page.keyboard.type(words)
        titles = page.locator("#browse-results .dataset-title")
        expect(titles.filter(has_text=repo_id)).to_have_count(1)
        expect(page).to_have_url(re.compile(r"[?&]q="))
        button = tab_until(page, lambda e, r=repo_id: e["label"] == f"Add {r} to the combination")
        assert button["pressed"] == "false"
        page.keyboard.press("Enter")
        added = page.get_by_role("button", name=f"Remove {repo_id} from the combination")
        expect(added).to_be_focused()
        expect(tray_summary(page)).to_have_text(tray_text(count))

    # Back up to the tray in the header, open it, follow "Open the report".
    tab_until(page, lambda e: e["tag"] == "SUMMARY" and e["inTray"], key="Shift+Tab")
    page.keyboard.press("Enter")
    tab_until(page, lambda e: e["tag"] == "A" and e["text"] == "Open the report")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/combinations/\d+$"))

    # The naive assessment: each member in the sizes section.
    sizes = page.locator("section[aria-labelledby='size-heading']")
    expect(sizes.get_by_role("heading", name="Size")).to_be_visible()
    for repo_id in searches:
        expect(sizes.get_by_text(repo_id, exact=True).first).to_be_visible()
    # The semantic assessment: groups, topics and the map's member points.
    covers = section(page)
    expect(covers.get_by_role("heading", name="What the combination covers")).to_be_visible()
    expect(covers.get_by_role("heading", name="Topics reached")).to_be_visible()
    expect(covers.locator("figure.semantic-map a.map-member")).to_have_count(len(searches))
    point = tab_until(page, lambda e: e["inMap"] and (e["label"] or "").split(":")[0] in searches)
    assert point["label"].partition(": ")[2].startswith("in the combination"), point
