"""Following datasets and seeing what changed, as a person does it in the browser.

By keyboard alone, with JavaScript off, signed out (sign in first, the follow is then done), the
list of followed datasets and the feed of changes (with a FakeHub that knows
"acme/movie-reviews"), axe-core in light and dark, and screenshots at phone and desktop widths.

The live server's database is shared by the module: every test starts with nobody following
anything and no recorded changes, and signs in with an account of its own.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Locator, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.follows import service
from app.follows.refresh import refresh_followed
from app.hub.service import EXTENSION_KEY
from app.models import Dataset, DatasetChange, DatasetSnapshot, Follow, HubCacheEntry, User
from tests.browser.conftest import BrowserErrors
from tests.browser.helpers import (
    account_maker,
    assert_no_axe_violations,
    focused,
    reset_limits,
    sign_in,
    sign_in_by_keyboard,
    tab_until,
    tolerate_aborts_from_navigation,
)
from tests.fakehub import FakeHub
from tests.hub.conftest import talking_to

pytestmark = pytest.mark.browser

PASSWORD = "a long unusual passphrase 42"
DATASET = "acme/movie-reviews"
SEARCH = "/datasets?q=movie"
FOLLOWED = f"You now follow {DATASET}."
SIGN_IN_TO_FOLLOW = "Sign in to follow datasets."
MARKED_SEEN = "Everything in your feed is marked as seen."
NEW_COMMIT = "Add a test split"
LICENCE_CHANGE = "licence changed from mit to cc-by-nc-4.0"
COMMITS = [
    {
        "title": f"Revise reviews, batch {n}",
        "date": f"2024-0{n}-01T12:00:00+00:00",
        "authors": ["acme"],
    }
    for n in range(3, 0, -1)
]

_numbers = itertools.count(1)


def unique_email(tag: str) -> str:
    return f"follows-{tag}.{next(_numbers)}@example.org"


# --- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub
    assert not hub.errors, hub.errors


@pytest.fixture(scope="module")
def hub_live(migrated_app: Flask, live_server: str, fake_hub: FakeHub) -> Iterator[FakeHub]:
    """Point the live app at the fake Hub for this module (/following and /feed ask it about
    stale datasets), and back at the dead port after."""
    with talking_to(migrated_app, fake_hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=1.0, HUB_BUDGET=2.0):
        yield fake_hub


@pytest.fixture(autouse=True)
def hub(migrated_app: Flask, hub_live: FakeHub) -> FakeHub:
    """Before each test: the dataset as the catalog has it (licence mit, three old commits),
    nobody following anything, no snapshots or changes, no cached Hub answers, no attempts
    counted by the rate limits."""
    hub_live.add_dataset(
        DATASET,
        card="# Movie Reviews\n\nFifty thousand film reviews.\n",
        commits=COMMITS,
        license="mit",
        likes=1_200,
        downloads=900_000,
        last_modified="2024-05-01T00:00:00Z",
        gated=False,
    )
    hub_live.heal()
    hub_live.clear_log()
    reset_limits(migrated_app)
    with migrated_app.app_context():
        for model in (DatasetChange, DatasetSnapshot, Follow, HubCacheEntry):
            db.session.query(model).delete()
        db.session.commit()
        db.session.remove()
    return hub_live


@pytest.fixture
def make_account(migrated_app: Flask) -> Callable[[str], str]:
    """An account with PASSWORD, made straight through the service layer; returns its email."""
    return account_maker(migrated_app, unique_email)


@pytest.fixture
def open_page(
    new_context: Callable[..., BrowserContext], browser_errors: BrowserErrors
) -> Callable[..., Page]:
    """A page in a new context, watched for errors. An htmx request the app answered with
    HX-Redirect is cut short by the navigation it asks for: that is no broken link."""

    def make(**options) -> Page:
        page = browser_errors.watch(new_context(**options).new_page())
        tolerate_aborts_from_navigation(page, browser_errors)
        return page

    return make


def run_refresh(app: Flask) -> None:
    """What the `follows refresh` command does: look at every followed dataset on the Hub."""
    with app.app_context():
        summary = refresh_followed(db.session, app.extensions[EXTENSION_KEY])
        db.session.remove()
    assert summary.failed == [] and summary.stopped_early is None, summary


def follow_directly(app: Flask, email: str) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        dataset_id = db.session.scalar(select(Dataset.id).where(Dataset.repo_id == DATASET))
        service.set_following(db.session, user.id, dataset_id, True)
        db.session.remove()


def make_changes(app: Flask, hub: FakeHub) -> None:
    """A baseline look, then a push and a licence change on the Hub, then another look."""
    run_refresh(app)
    hub.touch(DATASET, title=NEW_COMMIT, when=datetime.now(UTC), author="lvwerra")
    hub.update(DATASET, license="cc-by-nc-4.0")
    run_refresh(app)


# --- What a person sees --------------------------------------------------------------------------


def url(live_server: str, path: str) -> re.Pattern[str]:
    """Exactly this address; a "%2F" or "%3F" in it may also come unencoded."""
    pattern = (
        re.escape(live_server + path).replace("%2F", "(?:%2F|/)").replace("%3F", r"(?:%3F|\?)")
    )
    return re.compile("^" + pattern.replace("%3D", "(?:%3D|=)") + "$")


def arrive(page: Page, address: re.Pattern[str]) -> None:
    expect(page).to_have_url(address)
    page.wait_for_load_state()


def flash(page: Page) -> Locator:
    return page.locator("main .flash[role=status]")


def following_link(page: Page) -> Locator:
    return page.locator("header").get_by_role("link", name=re.compile(r"^Following \(\d+\)$"))


def row(page: Page) -> Locator:
    return page.locator("li.dataset-row").filter(
        has=page.get_by_role("link", name=DATASET, exact=True)
    )


def follow_button(scope: Page | Locator, following: bool) -> Locator:
    verb = "Unfollow" if following else "Follow"
    return scope.get_by_role("button", name=f"{verb} {DATASET}", exact=True)


def expect_followed(page: Page, scope: Page | Locator, count: int = 1) -> None:
    button = follow_button(scope, True)
    expect(button).to_have_text("Unfollow")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(following_link(page)).to_have_text(f"Following ({count})")


def expect_not_followed(page: Page, scope: Page | Locator, count: int = 0) -> None:
    button = follow_button(scope, False)
    expect(button).to_have_text("Follow")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(following_link(page)).to_have_text(f"Following ({count})")


def follower_count(page: Page) -> Locator:
    return row(page).locator(".follower-count")


def following_rows(page: Page) -> Locator:
    return page.locator("ul.following-list > li.following-row")


def is_button(label: str) -> Callable[[dict], bool]:
    return lambda e: e["tag"] == "BUTTON" and e["label"] == label


# --- By keyboard alone ---------------------------------------------------------------------------


def test_follow_and_unfollow_by_keyboard_alone(
    open_page: Callable[..., Page], live_server: str, make_account
) -> None:
    email = make_account("keys")
    page = open_page()
    keyboard = page.keyboard
    sign_in_by_keyboard(page, email, "/datasets")
    arrive(page, url(live_server, "/datasets"))
    expect(following_link(page)).to_have_text("Following (0)")

    keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    keyboard.type("movie")
    arrive(page, url(live_server, SEARCH))
    expect(page.locator("ol.dataset-list > li.dataset-row .dataset-title a").first).to_have_text(
        DATASET
    )
    expect(follower_count(page)).to_have_text("0 followers")

    current = tab_until(page, is_button(f"Follow {DATASET}"))
    assert current["visible"], "the focused Follow button shows no focus ring"
    with page.expect_response(lambda r: r.request.method == "POST" and "/follows/" in r.url):
        keyboard.press("Enter")
    expect_followed(page, row(page))
    expect(follower_count(page)).to_have_text("1 followers")
    expect(follow_button(row(page), True)).to_be_focused()
    assert focused(page)["visible"], "focus came back to the button without its focus ring"
    expect(page).to_have_url(url(live_server, SEARCH))  # the swap did not touch the address

    # Back up to the navigation and open the list.
    tab_until(page, lambda e: e["tag"] == "A" and e["text"] == "Following (1)", key="Shift+Tab")
    keyboard.press("Enter")
    arrive(page, url(live_server, "/following"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Datasets you follow")
    expect(following_rows(page)).to_have_count(1)
    expect(following_rows(page).get_by_role("link", name=DATASET, exact=True)).to_be_visible()

    tab_until(page, is_button(f"Unfollow {DATASET}"))
    keyboard.press("Space")
    expect_not_followed(page, following_rows(page))
    expect(follow_button(following_rows(page), False)).to_be_focused()
    # Pressed again, it follows again: nothing is lost by a slip of the finger.
    keyboard.press("Enter")
    expect_followed(page, following_rows(page))
    expect(follow_button(following_rows(page), True)).to_be_focused()
    keyboard.press("Enter")
    expect_not_followed(page, following_rows(page))


def test_read_the_feed_and_mark_it_seen_by_keyboard_alone(
    open_page: Callable[..., Page], live_server: str, with_changes: str
) -> None:
    """The journey after following: what changed, read and marked as seen, by keys alone."""
    page = open_page()
    keyboard = page.keyboard
    sign_in_by_keyboard(page, with_changes, "/following")
    arrive(page, url(live_server, "/following"))
    expect(following_rows(page).locator(".badge-new")).to_have_text("1 new commit")
    current = tab_until(page, lambda e: e["tag"] == "A" and e["text"] == "See what changed")
    assert current["visible"], "the focused link to the feed shows no focus ring"
    keyboard.press("Enter")
    arrive(page, url(live_server, "/feed"))
    expect(page.locator("#feed .badge")).to_have_count(2)
    current = tab_until(page, lambda e: e["tag"] == "BUTTON" and e["text"] == "Mark all as seen")
    assert current["visible"], "the focused Mark all as seen button shows no focus ring"
    keyboard.press("Enter")
    arrive(page, url(live_server, "/feed"))
    expect(flash(page)).to_have_text(MARKED_SEEN)
    expect(page.locator("#feed .badge")).to_have_count(0)


# --- With JavaScript off -------------------------------------------------------------------------


def test_follow_and_unfollow_without_javascript(
    open_page: Callable[..., Page], live_server: str, make_account
) -> None:
    email = make_account("nojs")
    page = open_page(java_script_enabled=False)
    page.goto("/auth/login?next=%2Fdatasets%3Fq%3Dmovie")
    sign_in(page, email)
    arrive(page, url(live_server, SEARCH))
    expect(page.locator("#q")).to_have_value("movie")

    with page.expect_navigation():
        follow_button(row(page), False).click()
    arrive(page, url(live_server, SEARCH))  # the same results, the same search
    expect(page.locator("#q")).to_have_value("movie")
    expect_followed(page, row(page))
    expect(follower_count(page)).to_have_text("1 followers")

    following_link(page).click()
    arrive(page, url(live_server, "/following"))
    expect(following_rows(page)).to_have_count(1)
    expect(following_rows(page).get_by_role("link", name=DATASET, exact=True)).to_be_visible()

    with page.expect_navigation():
        follow_button(following_rows(page), True).click()
    arrive(page, url(live_server, "/following?sort=changed"))
    expect(following_rows(page)).to_have_count(0)
    expect(page.locator("main .empty-state")).to_contain_text("You do not follow any dataset yet.")
    expect(following_link(page)).to_have_text("Following (0)")


# --- Signed out ----------------------------------------------------------------------------------


def test_follow_while_signed_out_signs_in_then_follows(
    open_page: Callable[..., Page], live_server: str, make_account, browser_errors: BrowserErrors
) -> None:
    # The app answers the signed-out follow with 401 and HX-Redirect to the sign-in page:
    # chromium logs the status, and htmx its responseError (the app marks every 4xx an error).
    browser_errors.allow(r"status of 401")
    browser_errors.allow(rf"^Response Status Error Code 401 from /follows/{re.escape(DATASET)}")
    email = make_account("signed-out")
    page = open_page()
    page.goto(SEARCH)
    expect(page.locator("header").get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    expect(following_link(page)).to_have_count(0)

    follow_button(row(page), False).click()
    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets%3Fq%3Dmovie"))
    expect(flash(page)).to_have_text(SIGN_IN_TO_FOLLOW)
    sign_in(page, email)

    arrive(page, url(live_server, SEARCH))
    expect(flash(page)).to_have_text(FOLLOWED)
    expect(page.locator("#q")).to_have_value("movie")
    expect_followed(page, row(page))
    expect(follower_count(page)).to_have_text("1 followers")


# --- What changed --------------------------------------------------------------------------------


def test_following_and_the_feed_show_what_changed(
    open_page: Callable[..., Page], live_server: str, make_account, migrated_app: Flask, hub
) -> None:
    email = make_account("feed")
    page = open_page()
    page.goto("/auth/login?next=%2Fdatasets%3Fq%3Dmovie")
    sign_in(page, email)
    follow_button(row(page), False).click()
    expect_followed(page, row(page))
    make_changes(migrated_app, hub)

    following_link(page).click()
    arrive(page, url(live_server, "/following"))
    entry = following_rows(page)
    expect(entry).to_have_count(1)
    expect(entry.locator(".badge-new")).to_have_text("1 new commit")
    # <q> draws its quotation marks with CSS: they are not in the text.
    expect(entry).to_contain_text(f"Last commit: {NEW_COMMIT} by lvwerra")
    expect(entry.locator(".commit-meta q")).to_have_text(NEW_COMMIT)

    page.get_by_role("link", name="See what changed").click()
    arrive(page, url(live_server, "/feed"))
    expect(page).to_have_title("What changed · Dataset Explorer")
    today = datetime.now(UTC)
    day = page.locator("section.feed-day").first
    expect(day.get_by_role("heading", level=2)).to_have_text(today.strftime("%-d %B %Y"))
    entries = day.locator("li.feed-entry")
    commit = entries.filter(has_text=NEW_COMMIT)
    expect(commit).to_have_count(1)
    expect(commit).to_contain_text(f"{DATASET}: commit {NEW_COMMIT} by lvwerra")
    expect(commit.locator("q")).to_have_text(NEW_COMMIT)
    licence = entries.filter(has_text=LICENCE_CHANGE)
    expect(licence.locator("strong")).to_have_text(LICENCE_CHANGE)
    for item in (commit, licence):
        expect(item.locator(".badge")).to_have_text("New")
    expect(page.locator("#feed .badge")).to_have_count(2)

    # The Atom feed: linked from the page's head and its text, and served as Atom to anyone.
    alternate = page.locator('head link[rel=alternate][type="application/atom+xml"]')
    atom_url = alternate.get_attribute("href")
    assert atom_url and re.fullmatch(re.escape(live_server) + r"/feed/[\w-]+\.atom", atom_url)
    expect(page.get_by_role("link", name="Atom feed")).to_have_attribute("href", atom_url)
    anonymous = page.context.browser.new_context()
    try:
        answer = anonymous.request.get(atom_url)
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("application/atom+xml"), answer.headers
        root = ElementTree.fromstring(answer.body())
        titles = [e.text or "" for e in root.iter("{http://www.w3.org/2005/Atom}title")]
        assert any(NEW_COMMIT in title for title in titles), titles
        assert any(LICENCE_CHANGE in title for title in titles), titles
    finally:
        anonymous.close()

    page.get_by_role("button", name="Mark all as seen").click()
    arrive(page, url(live_server, "/feed"))
    expect(flash(page)).to_have_text(MARKED_SEEN)
    expect(page.locator("#feed li.feed-entry").filter(has_text=NEW_COMMIT)).to_have_count(1)
    expect(page.locator("#feed .badge")).to_have_count(0)
    expect(page.locator("#feed .feed-new")).to_have_count(0)
    following_link(page).click()
    expect(following_rows(page)).to_have_count(1)
    expect(following_rows(page).locator(".badge-new")).to_have_count(0)


# --- Accessibility and looks ---------------------------------------------------------------------


def remove_tool_marks(page: Page) -> None:
    """Playwright's screenshots and axe leave empty style="" attributes behind (see test_auth)."""
    page.evaluate(
        "document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


@pytest.fixture
def with_changes(make_account, migrated_app: Flask, hub) -> str:
    """An account following the dataset, with a new commit and a licence change in its feed."""
    email = make_account("changes")
    follow_directly(migrated_app, email)
    make_changes(migrated_app, hub)
    return email


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_following_and_feed(
    open_page: Callable[..., Page], live_server: str, with_changes: str, scheme: str
) -> None:
    page = open_page(color_scheme=scheme)
    page.goto("/auth/login?next=%2Ffollowing")
    sign_in(page, with_changes)
    arrive(page, url(live_server, "/following"))
    expect(following_rows(page)).to_have_count(1)
    assert_no_axe_violations(page, f"on /following ({scheme})")
    remove_tool_marks(page)
    page.goto("/feed")
    expect(page.locator("#feed .badge")).to_have_count(2)
    assert_no_axe_violations(page, f"on /feed ({scheme})")
    remove_tool_marks(page)


@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots(
    open_page: Callable[..., Page],
    live_server: str,
    with_changes: str,
    screenshot_dir: Path,
    width: int,
) -> None:
    """Full-page pictures in artifacts/screenshots/ for people to look at; no sideways scroll."""
    page = open_page(viewport={"width": width, "height": 900})
    page.goto("/auth/login?next=%2Ffollowing")
    sign_in(page, with_changes)

    def shoot(name: str) -> None:
        page.screenshot(path=screenshot_dir / f"{name}-{width}.png", full_page=True)
        remove_tool_marks(page)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px at {width}px wide"

    expect(following_rows(page)).to_have_count(1)
    shoot("following")
    page.goto("/feed")
    expect(page.locator("#feed .badge")).to_have_count(2)
    shoot("feed")
    page.emulate_media(color_scheme="dark")
    shoot("feed-dark")
