"""Journeys to and through one dataset's page: mouse, keyboard alone, no JavaScript, Hub down.

The live server (tests/browser/conftest.py) serves the small fixture catalog; for this module
its Hub is a FakeHub that knows "acme/movie-reviews" with a card (a heading, a wide table, an
image, a code block), viewer sizes and 45 commits, newest first, so the history has three pages
of 20, 20 and 5. The Hub cache is emptied before each test, so each starts from the Hub.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from app.extensions import db
from app.hub.service import EXTENSION_KEY
from app.models import HubCacheEntry
from tests.browser.helpers import assert_no_axe_violations, focused, tab_until
from tests.fakehub import FakeHub
from tests.hub.conftest import talking_to

pytestmark = pytest.mark.browser

DATASET = "acme/movie-reviews"
PAGE = f"/datasets/{DATASET}"
HISTORY = f"{PAGE}/commits"
DESCRIPTION = (
    "Fifty thousand film reviews from a movie site, each labelled positive or negative for "
    "sentiment analysis."
)
# Unbreakable or long lines, to make the card wider than a phone.
SOURCE = "https://reviews.example.org/archive/2019/films/a-quiet-patient-film-review-0001"
BIBTEX = (
    "@inproceedings{maas-etal-2011-learning, "
    "title = {Learning Word Vectors for Sentiment Analysis}, year = {2011}}"
)
CARD = f"""---
license: mit
pretty_name: Movie Reviews
language:
- en
task_categories:
- text-classification
size_categories:
- 10K<n<100K
---
# Movie Reviews

Fifty thousand film reviews, each labelled **positive** or **negative**.

![Distribution of labels](images/labels.png)

## Fields

| Field | Type | Description | Example | Source |
|---|---|---|---|---|
| text | string | The review as its author wrote it, HTML removed | A quiet film | {SOURCE} |
| label | class | 0 is negative, 1 is positive | 1 | annotators_round_two_consensus_labels_v2 |

## Citation

```bibtex
{BIBTEX}
```
"""
SIZES = [
    {
        "config": "default",
        "splits": [
            {"name": "train", "num_examples": 40_000, "num_bytes": 52_000_000},
            {"name": "test", "num_examples": 10_000, "num_bytes": 13_000_000},
        ],
    },
    {  # a long name, which must wrap rather than push the page sideways on a phone
        "config": "with_spoiler_annotations_and_reviewer_metadata",
        "splits": [{"name": "train", "num_examples": 5_000, "num_bytes": 9_000_000}],
    },
]
TOTAL_COMMITS = 45
# Newest first: "Revise reviews, batch 45" is the newest, "batch 1" the first commit.
TITLES = [f"Revise reviews, batch {number}" for number in range(TOTAL_COMMITS, 0, -1)]
COMMITS = [
    {
        "title": title,
        "date": (datetime(2024, 5, 1, 12, tzinfo=UTC) - timedelta(days=3 * index)).isoformat(),
        "authors": ["lvwerra" if index % 3 else "acme"],
    }
    for index, title in enumerate(TITLES)
]
# The 503 of a history request while the Hub is down: chromium logs the failed resource, and
# htmx logs its responseError (swapped all the same; see HTMX_CONFIG in app/templating.py).
HISTORY_503 = [
    r"status of 503 \(SERVICE UNAVAILABLE\)",
    rf"^Response Status Error Code 503 from {re.escape(HISTORY)}(, \[object HTMLDivElement\])?$",
]


# --- The fake Hub, for this module only ----------------------------------------------------------


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        hub.add_dataset(
            DATASET,
            card=CARD,
            sizes=SIZES,
            commits=COMMITS,
            description=DESCRIPTION,
            downloads=900_000,
            likes=1_200,
            created_at="2021-01-10T00:00:00Z",
            last_modified="2024-05-01T12:00:00Z",
            gated=False,
        )
        yield hub
    assert not hub.errors, hub.errors


@pytest.fixture(scope="module")
def hub_live(migrated_app: Flask, live_server: str, fake_hub: FakeHub) -> Iterator[FakeHub]:
    """Point the live app at the fake Hub for this module, and back at the dead port after."""
    with talking_to(migrated_app, fake_hub, HUB_ATTEMPTS=1, HUB_READ_TIMEOUT=1.0, HUB_BUDGET=2.0):
        yield fake_hub


@pytest.fixture(autouse=True)
def hub(migrated_app: Flask, hub_live: FakeHub) -> Iterator[FakeHub]:
    """A healthy Hub and an empty Hub cache at the start of every test."""
    hub_live.heal()
    hub_live.clear_log()
    migrated_app.extensions[EXTENSION_KEY].reset()
    with migrated_app.app_context():
        db.session.query(HubCacheEntry).delete()
        db.session.commit()
        db.session.remove()
    yield hub_live
    hub_live.heal()


# --- What a person sees --------------------------------------------------------------------------


def history(page: Page) -> Locator:
    return page.locator("#commit-history")


def commit_titles(page: Page) -> Locator:
    return history(page).locator("ol.commit-list > li.commit .commit-title")


def older(page: Page) -> Locator:
    return history(page).get_by_role("link", name="Older ›")


def newer(page: Page) -> Locator:
    return history(page).get_by_role("link", name="‹ Newer")


def results(page: Page) -> Locator:
    return page.locator("ol.dataset-list > li.dataset-row .dataset-title a")


def mark_document(page: Page) -> None:
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of swapping"


# Counts settled htmx swaps into the history region (the first load, Older, Newer, Try again).
HISTORY_SWAPS = """() => {
  if (!window.__historySwaps) {
    window.__historySwaps = {count: 0};
    document.addEventListener("htmx:afterSettle", function (event) {
      const region = document.getElementById("commit-history");
      if (region && region.contains(event.target)) window.__historySwaps.count += 1;
    });
  }
  return window.__historySwaps.count;
}"""


@contextmanager
def history_swap(page: Page) -> Iterator[None]:
    """Wait until the action in the block has made htmx swap new history in and settle."""
    before = page.evaluate(HISTORY_SWAPS)
    yield
    page.wait_for_function("n => window.__historySwaps.count > n", arg=before)


def expect_commit_page(page: Page, number: int) -> None:
    """The history shows page `number` (1 to 3) of the 45 commits, with working links."""
    first = (number - 1) * 20
    wanted = TITLES[first : first + 20]
    expect(commit_titles(page)).to_have_text(wanted)
    expect(history(page).locator("ol.commit-list")).to_have_attribute("start", str(first + 1))
    expect(history(page).locator("[aria-current=page]")).to_have_text(f"Page {number}")
    expect(history(page).locator(".hint")).to_have_text(f"{TOTAL_COMMITS} commits, newest first.")
    expect(older(page)).to_have_count(1 if number < 3 else 0)
    expect(newer(page)).to_have_count(1 if number > 1 else 0)
    # Each commit: a machine-readable date and its short SHA, linking to the commit on the Hub.
    commits = history(page).locator("li.commit")
    expect(commits.locator("time[datetime]")).to_have_count(len(wanted))
    shas = commits.locator("a:has(code)")
    expect(shas).to_have_count(len(wanted))
    for index in (0, len(wanted) - 1):
        sha = shas.nth(index)
        expect(sha.locator("code")).to_have_text(re.compile(r"^[0-9a-f]{7}$"))
        short = sha.locator("code").inner_text()
        expect(sha).to_have_attribute(
            "href", re.compile(rf"/datasets/{re.escape(DATASET)}/commit/{short}[0-9a-f]{{33}}$")
        )
        expect(sha).to_have_accessible_name(f"Commit {short} on the Hub")
        stamp = commits.nth(index).locator("time").get_attribute("datetime")
        assert stamp and stamp.startswith(COMMITS[first + index]["date"][:10]), stamp


def expect_dataset_page(page: Page) -> None:
    """The header, facts, sizes and rendered card of acme/movie-reviews."""
    expect(page).to_have_title(f"{DATASET} · Dataset Explorer")
    expect(page.locator("h1")).to_have_text(DATASET)
    expect(page.locator(".dataset-header .pretty-name")).to_have_text("Movie Reviews")
    expect(page.locator(".badge-licence")).to_have_text("Licence: mit")
    expect(page.locator(".dataset-header .badge")).to_contain_text(
        ["Licence: mit", "Text classification"]
    )
    expect(page.locator(".notice")).to_have_count(0)  # the Hub answered: nothing is stale

    sizes = page.locator("section[aria-labelledby=size-heading]")
    expect(sizes.locator(".source")).to_have_text("From the Hub's dataset viewer.")
    rows = sizes.locator("table.size-table tbody tr")
    expect(rows).to_have_count(3)
    for row, (config, split, count) in enumerate(
        [
            ("default", "train", "40,000"),
            ("default", "test", "10,000"),
            ("with_spoiler_annotations_and_reviewer_metadata", "train", "5,000"),
        ]
    ):
        expect(rows.nth(row).locator("td").nth(0)).to_have_text(config)
        expect(rows.nth(row).locator("td").nth(1)).to_have_text(split)
        expect(rows.nth(row).locator("td").nth(2)).to_have_text(count)
    expect(sizes.locator("tfoot td").first).to_have_text("55,000")

    body = page.locator("section.dataset-card div.card-body[hx-disable]")
    expect(body).to_have_count(1)
    expect(body.get_by_role("heading", name="Movie Reviews", level=3)).to_be_visible()
    expect(body.get_by_role("heading", name="Fields", level=4)).to_be_visible()
    expect(body.locator("table tbody tr")).to_have_count(2)
    expect(body.locator("table th")).to_have_text(
        ["Field", "Type", "Description", "Example", "Source"]
    )
    # Images are never hot-linked: each is a link the reader may choose to follow.
    image = body.get_by_role("link", name="Image: Distribution of labels")
    expect(image).to_have_attribute(
        "href", re.compile(rf"/datasets/{re.escape(DATASET)}/blob/main/images/labels\.png$")
    )
    expect(page.locator("main img")).to_have_count(0)
    expect(body.locator("pre code")).to_contain_text("@inproceedings")
    # The card metadata is folded away, and readable.
    metadata = page.locator("details.card-metadata")
    expect(metadata).not_to_have_attribute("open", "")
    metadata.locator("summary").click()
    expect(metadata.locator("dl")).to_contain_text("license")


def wait_for_history(page: Page) -> None:
    """The history has loaded by itself (hx-trigger=load): page 1, 20 commits."""
    expect(commit_titles(page)).to_have_count(20)
    expect_commit_page(page, 1)


# --- With a mouse --------------------------------------------------------------------------------


def test_search_open_the_dataset_and_page_through_its_history(page: Page, hub: FakeHub) -> None:
    page.goto("/datasets")
    page.locator("#q").fill("movie")
    expect(results(page)).to_have_text([DATASET])
    results(page).first.click()
    expect(page).to_have_url(re.compile(rf"{re.escape(PAGE)}$"))

    expect_dataset_page(page)
    # Before JavaScript there is a plain link; htmx replaced it with the first page of history.
    expect(history(page)).to_have_attribute("hx-trigger", "load")
    wait_for_history(page)
    expect(history(page).get_by_role("link", name="Show the commit history")).to_have_count(0)
    mark_document(page)

    with history_swap(page):
        older(page).click()
    expect_commit_page(page, 2)
    expect(page).to_have_url(re.compile(rf"{re.escape(PAGE)}$"))  # the page itself stays

    with history_swap(page):
        older(page).click()
    expect_commit_page(page, 3)

    with history_swap(page):
        newer(page).click()
    expect_commit_page(page, 2)
    with history_swap(page):
        newer(page).click()
    expect_commit_page(page, 1)
    assert_same_document(page)
    # Each page of history was asked of the Hub once: the page the person came back to (1)
    # and page 2 the second time came from the cache.
    assert hub.count(rf"^/api/datasets/{re.escape(DATASET)}/commits/main$") == 3


# --- By keyboard alone ---------------------------------------------------------------------------


def test_keyboard_only_journey_to_the_history(page: Page) -> None:
    keyboard = page.keyboard
    page.goto("/datasets")
    expect(results(page)).to_have_count(20)

    keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    keyboard.type("movie", delay=20)
    expect(results(page)).to_have_text([DATASET])
    expect(page.locator("#q")).to_be_focused()

    current = tab_until(page, lambda e: e["tag"] == "A" and e["text"] == DATASET)
    assert current["visible"], "the focused result link shows no focus ring"
    keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"{re.escape(PAGE)}$"))
    expect(page.locator("h1")).to_have_text(DATASET)
    wait_for_history(page)
    mark_document(page)

    current = tab_until(page, lambda e: e["rel"] == "next")
    assert current["text"] == "Older ›" and current["visible"], current
    with history_swap(page):
        keyboard.press("Enter")
    expect_commit_page(page, 2)
    # The link that was pressed is gone: focus goes to the history's heading, not <body>.
    heading = page.locator("#commits-heading")
    expect(heading).to_be_focused()
    expect(heading).to_be_in_viewport()
    # From there Tab continues into the new page of commits.
    keyboard.press("Tab")
    expect(history(page).locator("li.commit").first.locator("a")).to_be_focused()

    # On to "‹ Newer", back to page 1; focus again on the heading.
    current = tab_until(page, lambda e: e["rel"] == "prev")
    assert current["text"] == "‹ Newer", current
    with history_swap(page):
        keyboard.press("Enter")
    expect_commit_page(page, 1)
    expect(heading).to_be_focused()

    # Shift+Tab goes back up the page (to the card's last link), not to the top.
    keyboard.press("Shift+Tab")
    assert focused(page)["tag"] == "A", focused(page)
    assert page.evaluate(
        "document.querySelector('section.dataset-card').contains(document.activeElement)"
    ), focused(page)
    assert_same_document(page)


# --- With JavaScript off -------------------------------------------------------------------------


def test_journey_without_javascript(no_js_page: Page, live_server: str) -> None:
    page = no_js_page
    page.goto("/datasets")
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bjs\b"))
    page.locator("#q").fill("movie")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"/datasets\?(.*&)?q=movie"))
    expect(results(page)).to_have_text([DATASET])
    results(page).first.click()

    expect(page).to_have_url(f"{live_server}{PAGE}")
    expect_dataset_page(page)
    link = history(page).get_by_role("link", name="Show the commit history")
    expect(link).to_have_attribute("href", HISTORY)
    expect(history(page).locator("ol.commit-list")).to_have_count(0)

    link.click()
    expect(page).to_have_url(f"{live_server}{HISTORY}")
    expect(page).to_have_title(f"History of {DATASET} · Dataset Explorer")
    expect(page.locator("h1")).to_have_text(f"Commit history of {DATASET}")
    expect_commit_page(page, 1)

    older(page).click()
    expect(page).to_have_url(f"{live_server}{HISTORY}?page=2")
    expect_commit_page(page, 2)
    older(page).click()
    expect(page).to_have_url(f"{live_server}{HISTORY}?page=3")
    expect_commit_page(page, 3)
    newer(page).click()
    expect(page).to_have_url(f"{live_server}{HISTORY}?page=2")
    expect_commit_page(page, 2)

    # The breadcrumb leads back to the dataset.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=DATASET).click()
    expect(page).to_have_url(f"{live_server}{PAGE}")


# --- The Hub down --------------------------------------------------------------------------------


def test_hub_down_with_nothing_cached_then_try_again(
    page: Page, hub: FakeHub, browser_errors, migrated_app: Flask
):
    for pattern in HISTORY_503:
        browser_errors.allow(pattern)
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text))
    hub.fail("status", status=503)

    response = page.goto(PAGE)
    assert response is not None and response.status == 200
    # What the catalog knows is still there.
    expect(page.locator("h1")).to_have_text(DATASET)
    expect(page.locator(".badge-licence")).to_have_text("Licence: mit")
    expect(page.locator("section[aria-labelledby=about-heading]")).to_contain_text(DESCRIPTION)
    notice = page.locator("main > .notice[role=status]")
    expect(notice).to_contain_text("The Hub is unreachable, so some parts of this page are missing")
    expect(page.locator("section.dataset-card")).to_contain_text(
        "The card could not be loaded from the Hub just now."
    )

    # The history asked, got the 503 fragment, and shows it in place.
    failure = history(page).locator(".notice-error[role=alert]")
    expect(failure).to_contain_text("cannot be reached just now")
    retry = failure.get_by_role("link", name="Try again")
    expect(retry).to_have_attribute("href", f"{HISTORY}?page=1")
    expect(page.locator("h1")).to_have_count(1)  # a fragment, not a page within the page
    mark_document(page)

    hub.heal()
    # A page of failures opened the client's circuit breaker; as if its cooldown had passed:
    migrated_app.extensions[EXTENSION_KEY].reset()
    with history_swap(page):
        retry.click()
    expect_commit_page(page, 1)
    expect(failure).to_have_count(0)
    # The history works as before: Older swaps the region, which is still there.
    with history_swap(page):
        older(page).click()
    expect_commit_page(page, 2)
    assert_same_document(page)
    for pattern in HISTORY_503:
        assert any(re.search(pattern, text) for text in seen), (pattern, seen)

    # The history's own page, with nothing saved of page 3: a whole 503 page whose "Try again"
    # reloads it (swapping a bare list into it would leave Older/Newer nowhere to go).
    hub.fail("status", status=503)
    response = page.goto(f"{HISTORY}?page=3")
    assert response is not None and response.status == 503
    expect(page.locator("h1")).to_have_text("The Hub is unreachable")
    retry = page.locator("main").get_by_role("link", name="Try again")
    expect(retry).not_to_have_attribute("hx-get", re.compile(".*"))
    hub.heal()
    migrated_app.extensions[EXTENSION_KEY].reset()
    retry.click()
    expect(page).to_have_url(re.compile(rf"{re.escape(HISTORY)}\?page=3$"))
    expect(page.locator("h1")).to_have_text(f"Commit history of {DATASET}")
    expect_commit_page(page, 3)
    with history_swap(page):
        newer(page).click()
    expect_commit_page(page, 2)


# --- Accessibility and looks ---------------------------------------------------------------------


def test_axe_finds_no_violations(page: Page) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(PAGE)
        wait_for_history(page)
        page.locator("details.card-metadata summary").click()
        assert_no_axe_violations(page, f"on the dataset page ({scheme})")

        page.goto(f"{HISTORY}?page=2")
        expect_commit_page(page, 2)
        assert_no_axe_violations(page, f"on the commit history page ({scheme})")


@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots(new_context, screenshot_dir: Path, browser_errors, width: int) -> None:
    """Full-page pictures in artifacts/screenshots/ for people to look at, plus layout checks."""
    for scheme in ("light", "dark"):
        context = new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
        page = browser_errors.watch(context.new_page())
        page.goto(PAGE)
        wait_for_history(page)
        page.screenshot(path=screenshot_dir / f"dataset-{width}-{scheme}.png", full_page=True)

        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        too_wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .slice(0, 8).map(e => e.tagName + '.' + e.className)"""
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px: {too_wide}"
        # Whatever is too wide (the card's table, its code) scrolls inside its own box.
        for selector in ("section.dataset-card", "div.table-scroll", "#commit-history"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0, (selector, box)
            assert box["x"] + box["width"] <= width, (selector, box, width)
        if width == 375:
            card = page.locator("div.card-body")
            assert card.evaluate("e => e.scrollWidth > e.clientWidth"), "the card table fits?"
