"""Journeys through the browse page, as a person takes them: mouse, keyboard alone, no JavaScript.

The catalog is tests/fixtures/catalog_small.jsonl: 15 varied datasets and 30
"filler/weather-station-NN" (time-series forecasting, 1,001 to 1,030 downloads).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import assert_no_axe_violations, tab_until

pytestmark = pytest.mark.browser

TOTAL = 45
# Counts htmx swaps of the results region, whatever started them.
SWAP_COUNTER = """() => {
  if (!window.__swapCounter) {
    window.__swapCounter = true;
    window.__swaps = 0;
    document.addEventListener("htmx:afterSettle", function (event) {
      if (event.target.id === "browse-results") window.__swaps += 1;
    });
  }
  return window.__swaps;
}"""


# --- What a person sees --------------------------------------------------------------------------


def heading(page: Page) -> Locator:
    return page.locator("#results-heading")


def status(page: Page) -> Locator:
    return page.locator("#results-status")


def titles(page: Page) -> Locator:
    return page.locator("ol.dataset-list > li.dataset-row .dataset-title a")


def chips(page: Page) -> Locator:
    return page.locator("#browse-results a.chip")


def facet(page: Page, name: str, value: str) -> Locator:
    return page.locator(f'#browse-results input[type="checkbox"][name="{name}"][value="{value}"]')


def facet_count(page: Page, name: str, value: str) -> Locator:
    option = page.locator(f'input[type="checkbox"][name="{name}"][value="{value}"]')
    return page.locator("#browse-results .facet li").filter(has=option).locator(".count")


def pagination(page: Page) -> Locator:
    return page.locator("#browse-results nav.pagination")


def showing(first: int, last: int, total: int) -> str:
    return f"Showing {first}–{last} of {total} dataset{'' if total == 1 else 's'}"


def weather(number: int) -> str:
    return f"filler/weather-station-{number:02d}"


def browse_url(live_server: str, query: str = "") -> re.Pattern[str]:
    """The browse URL with exactly this query string (or none)."""
    suffix = rf"\?{re.escape(query)}" if query else ""
    return re.compile(rf"^{re.escape(live_server)}/datasets{suffix}$")


def query_has(**params: str) -> re.Pattern[str]:
    """A URL whose query string holds each name=value (in any order; a space as %20 or +)."""

    def value(text: str) -> str:
        return r"(%20|\+)".join(re.escape(word) for word in text.split(" "))

    lookaheads = "".join(rf"(?=.*[?&]{re.escape(k)}={value(v)}(&|$))" for k, v in params.items())
    return re.compile(rf"/datasets{lookaheads}\?")


def mark_document(page: Page) -> None:
    """Tag the loaded document so a later full page load would be noticed."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of swapping"


@contextmanager
def htmx_swap(page: Page) -> Iterator[None]:
    """Wait until the action inside the block has made htmx swap and settle #browse-results."""
    before = page.evaluate(SWAP_COUNTER)
    yield
    page.wait_for_function("n => window.__swaps >= n", arg=before + 1)
    expect(page.locator("#browse-results")).not_to_have_attribute("aria-busy", "true")


def expect_unfiltered_first_page(page: Page) -> None:
    expect(heading(page)).to_have_text(showing(1, 20, TOTAL))
    expect(status(page)).to_have_text(f"{TOTAL} datasets")
    expect(titles(page)).to_have_count(20)
    expect(titles(page).first).to_have_text("squad")  # most downloaded
    expect(chips(page)).to_have_count(0)


# --- Journeys with a mouse -----------------------------------------------------------------------


def test_search_by_typing_updates_results_heading_status_and_address(
    page: Page, live_server: str
) -> None:
    page.goto("/datasets")
    expect_unfiltered_first_page(page)
    expect(page).to_have_title("Datasets · Dataset Explorer")
    mark_document(page)

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.headers.get("hx-request") else None)
    with htmx_swap(page):
        # Typed key by key, faster than the 300 ms debounce: a single request at the end.
        page.locator("#q").press_sequentially("speech", delay=30)
    assert len(requests) == 1, requests

    expect(heading(page)).to_have_text(showing(1, 3, 3))
    # A search sorts by best match unless the person chose a sort; the URL stays minimal.
    expect(page.locator("#sort")).to_have_value("relevance")
    expect(titles(page)).to_have_text(
        ["acme/read-speech", "acme/speech-commands", "acme/gated-voices"]
    )
    assert "sort=" not in page.url and "per_page=" not in page.url, page.url
    expect(status(page)).to_have_text("3 datasets")
    expect(page).to_have_url(query_has(q="speech"))
    expect(page).to_have_title("“speech” · Datasets · Dataset Explorer")
    expect(chips(page)).to_have_text(["Search: “speech” ×"])
    expect(pagination(page)).to_have_count(0)
    assert_same_document(page)

    with htmx_swap(page):
        page.locator("#q").press_sequentially(" commands", delay=30)
    expect(heading(page)).to_have_text(showing(1, 1, 1))
    expect(titles(page)).to_have_text(["acme/speech-commands"])
    expect(status(page)).to_have_text("1 dataset")
    expect(page).to_have_url(query_has(q="speech commands"))

    with htmx_swap(page):
        page.locator("#q").fill("zebra")
    expect(heading(page)).to_have_text("No datasets found")
    expect(status(page)).to_have_text("0 datasets")
    expect(page.locator(".empty-state")).to_contain_text("No dataset matches “zebra”")
    expect(titles(page)).to_have_count(0)

    # Pressing Enter searches at once, without waiting for the debounce.
    requests.clear()
    page.locator("#q").fill("weather")
    with htmx_swap(page):
        page.locator("#q").press("Enter")
    expect(heading(page)).to_have_text(showing(1, 20, 30))
    expect(status(page)).to_have_text("30 datasets")
    expect(page).to_have_url(query_has(q="weather"))
    assert len(requests) == 1, f"Enter sent {len(requests)} requests: {requests}"

    # Removing the search chip brings the whole catalog back and empties the box.
    with htmx_swap(page):
        chips(page).filter(has_text="Search").click()
    expect(heading(page)).to_have_text(showing(1, 20, TOTAL))
    expect(status(page)).to_have_text(f"{TOTAL} datasets")
    expect(page).not_to_have_url(re.compile(r"q=weather"))
    expect(page.locator("#q")).to_have_value("")
    # ...so the next filter does not bring the removed search back.
    with htmx_swap(page):
        facet(page, "license", "mit").check()
    expect(heading(page)).to_have_text(showing(1, 4, 4))
    expect(chips(page)).to_have_text(["Licence: mit ×"])
    expect(page).not_to_have_url(re.compile(r"q=weather"))
    assert_same_document(page)


def test_filter_with_checkboxes_and_chips(page: Page, live_server: str) -> None:
    page.goto("/datasets")
    expect_unfiltered_first_page(page)
    mark_document(page)
    expect(facet_count(page, "modality", "audio")).to_have_text("3")
    expect(facet_count(page, "task", "automatic-speech-recognition")).to_have_text("2")
    expect(facet_count(page, "language", "fr")).to_have_text("2")

    with htmx_swap(page):
        facet(page, "modality", "audio").check()
    expect(heading(page)).to_have_text(showing(1, 3, 3))
    expect(status(page)).to_have_text("3 datasets")
    expect(page).to_have_url(query_has(modality="audio"))
    expect(chips(page)).to_have_text(["Modality: Audio ×"])
    expect(facet(page, "modality", "audio")).to_be_checked()
    # The other facets now count within the filtered results.
    expect(facet_count(page, "task", "automatic-speech-recognition")).to_have_text("2")
    expect(facet_count(page, "task", "audio-classification")).to_have_text("1")
    expect(facet(page, "task", "question-answering")).to_have_count(0)
    expect(facet_count(page, "language", "fr")).to_have_text("1")

    with htmx_swap(page):
        page.get_by_label(re.compile(r"^French \(fr\)")).check()
    expect(heading(page)).to_have_text(showing(1, 1, 1))
    expect(titles(page)).to_have_text(["acme/gated-voices"])
    expect(status(page)).to_have_text("1 dataset")
    expect(chips(page)).to_have_text(["Modality: Audio ×", "Language: French (fr) ×"])
    expect(page).to_have_url(query_has(modality="audio", language="fr"))

    # Removing the audio chip keeps the French filter.
    with htmx_swap(page):
        page.get_by_role("link", name="Remove filter Modality: Audio").click()
    expect(heading(page)).to_have_text(showing(1, 2, 2))
    expect(titles(page)).to_have_text(["acme/gated-voices", "acme/parallel-fr-en"])
    expect(chips(page)).to_have_text(["Language: French (fr) ×"])
    expect(facet(page, "modality", "audio")).not_to_be_checked()
    expect(facet(page, "language", "fr")).to_be_checked()
    expect(page).not_to_have_url(re.compile(r"modality="))
    expect(status(page)).to_have_text("2 datasets")

    with htmx_swap(page):
        facet(page, "license", "cc-by-4.0").check()
    expect(heading(page)).to_have_text(showing(1, 1, 1))
    expect(titles(page)).to_have_text(["acme/parallel-fr-en"])
    expect(chips(page)).to_have_count(2)

    with htmx_swap(page):
        page.get_by_role("link", name="Clear all filters").click()
    expect_unfiltered_first_page(page)
    expect(page.locator("a.clear-all")).to_have_count(0)
    expect(page.locator("#browse-results input[type=checkbox]:checked")).to_have_count(0)
    expect(page).to_have_url(browse_url(live_server))
    assert_same_document(page)


def expect_state(
    page: Page,
    live_server: str,
    query: str,
    heading_text: str,
    first: str,
    q: str,
    sort: str,
    count: int,
) -> None:
    """The address, the results and the controls all describe the same state."""
    expect(page).to_have_url(browse_url(live_server, query))
    expect(heading(page)).to_have_text(heading_text)
    expect(titles(page).first).to_have_text(first)
    expect(titles(page)).to_have_count(count)
    expect(page.locator("#q")).to_have_value(q)
    expect(page.locator("#sort")).to_have_value(sort)
    expect(page.locator("#per_page")).to_have_value("20")
    total = int(heading_text.rsplit(" of ", 1)[1].split()[0])
    expect(status(page)).to_have_text(f"{total} datasets")


def test_sort_paginate_then_back_and_forward(page: Page, live_server: str) -> None:
    page.goto("/datasets")
    expect_unfiltered_first_page(page)
    expect(page.locator("#sort")).to_have_value("downloads")
    mark_document(page)

    with htmx_swap(page):
        page.locator("#sort").select_option(label="Name (A–Z)")
    expect(titles(page).first).to_have_text("acme/census-income")
    expect(heading(page)).to_have_text(showing(1, 20, TOTAL))
    expect(page).to_have_url(query_has(sort="name"))
    sorted_url = page.url.removeprefix(f"{live_server}/datasets?")

    with htmx_swap(page):
        pagination(page).locator("a[rel=next]").click()
    expect(heading(page)).to_have_text(showing(21, 40, TOTAL))
    expect(titles(page).first).to_have_text(weather(8))
    expect(pagination(page).locator("[aria-current=page]")).to_have_text("2")
    expect(page).to_have_url(query_has(sort="name", page="2"))
    expect(page.locator("ol.dataset-list")).to_have_attribute("start", "21")

    with htmx_swap(page):
        pagination(page).get_by_role("link", name="Page 3", exact=True).click()
    expect(heading(page)).to_have_text(showing(41, 45, TOTAL))
    expect(titles(page)).to_have_text(
        [weather(28), weather(29), weather(30), "someone/squad-translated-it", "squad"]
    )
    expect(pagination(page).locator("a[rel=next]")).to_have_count(0)
    expect(page).to_have_url(query_has(sort="name", page="3"))

    # A search from there starts again at page 1, keeping the sort.
    with htmx_swap(page):
        page.locator("#q").fill("weather")
    expect(heading(page)).to_have_text(showing(1, 20, 30))
    expect(titles(page).first).to_have_text(weather(1))
    expect(page).to_have_url(query_has(q="weather", sort="name"))
    searched_url = page.url.removeprefix(f"{live_server}/datasets?")

    states = [
        ("", showing(1, 20, TOTAL), "squad", "", "downloads", 20),
        (sorted_url, showing(1, 20, TOTAL), "acme/census-income", "", "name", 20),
        ("sort=name&page=2", showing(21, 40, TOTAL), weather(8), "", "name", 20),
        ("sort=name&page=3", showing(41, 45, TOTAL), weather(28), "", "name", 5),
        (searched_url, showing(1, 20, 30), weather(1), "weather", "name", 20),
    ]
    expect_state(page, live_server, *states[-1])
    for state in reversed(states[:-1]):
        page.go_back()
        expect_state(page, live_server, *state)
    for state in states[1:]:
        page.go_forward()
        expect_state(page, live_server, *state)
    # History was restored in place by htmx, not by reloading the page.
    assert_same_document(page)


# --- By keyboard alone ---------------------------------------------------------------------------


def test_keyboard_only_journey(page: Page, live_server: str) -> None:
    page.goto("/datasets")
    expect_unfiltered_first_page(page)
    keyboard = page.keyboard

    # The first Tab reaches the skip link, which shows itself and jumps to the main content.
    keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0, f"the focused skip link is off screen: {box}"
    keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

    # "/" jumps to the search box.
    keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()

    # On to the "Time series forecasting" checkbox; Space ticks it.
    current = tab_until(
        page, lambda e: e["name"] == "task" and e["value"] == "time-series-forecasting"
    )
    assert current["visible"], "the focused checkbox shows no focus ring"
    with htmx_swap(page):
        keyboard.press("Space")
    expect(heading(page)).to_have_text(showing(1, 20, 30))
    expect(status(page)).to_have_text("30 datasets")
    checkbox = facet(page, "task", "time-series-forecasting")
    expect(checkbox).to_be_checked()
    # The swap replaced the checkbox; focus is on the new one, so Space unticks it again.
    expect(checkbox).to_be_focused()
    with htmx_swap(page):
        keyboard.press("Space")
    expect(heading(page)).to_have_text(showing(1, 20, TOTAL))
    expect(checkbox).to_be_focused()
    expect(checkbox).not_to_be_checked()
    with htmx_swap(page):
        keyboard.press("Space")
    expect(heading(page)).to_have_text(showing(1, 20, 30))
    expect(page).to_have_url(query_has(task="time-series-forecasting"))

    # Onwards to the pagination; Enter on "Next" shows page 2 and focus lands on its heading.
    tab_until(page, lambda e: e["rel"] == "next")
    with htmx_swap(page):
        keyboard.press("Enter")
    expect(heading(page)).to_have_text(showing(21, 30, 30))
    expect(heading(page)).to_be_focused()
    expect(page).to_have_url(query_has(task="time-series-forecasting", page="2"))

    # From the heading, Tab continues with the results (first the filter's chip), not back at
    # the top of the page; Enter on the chip removes the filter.
    keyboard.press("Tab")
    expect(
        page.get_by_role("link", name="Remove filter Task: Time series forecasting")
    ).to_be_focused()
    with htmx_swap(page):
        keyboard.press("Enter")
    expect(heading(page)).to_have_text(showing(1, 20, TOTAL))
    expect(heading(page)).to_be_focused()
    expect(page).to_have_url(browse_url(live_server))

    # From anywhere, "/" comes back to the search box; typed inside it, "/" is just a character,
    # and the search it starts leaves focus (and the typing) where it was.
    keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    with htmx_swap(page):
        keyboard.press("/")
    expect(page.locator("#q")).to_have_value("/")
    expect(page.locator("#q")).to_be_focused()


# --- With JavaScript off -------------------------------------------------------------------------


def test_journey_without_javascript(no_js_page: Page, live_server: str) -> None:
    page = no_js_page

    def full_load(action: Callable[[], None]) -> None:
        """The action must load a whole new document from the server."""
        with page.expect_response(
            lambda r: r.request.is_navigation_request() and "/datasets" in r.url
        ) as response:
            action()
        assert response.value.request.headers.get("hx-request") is None
        page.wait_for_load_state()

    full_load(lambda: page.goto("/datasets"))
    expect_unfiltered_first_page(page)
    assert page.evaluate("1 + 1") == 2  # Playwright's own scripts still run, the page's don't
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bjs\b"))
    apply = page.get_by_role("button", name="Apply filters")
    expect(apply).to_be_visible()

    page.locator("#q").fill("question")
    full_load(lambda: page.get_by_role("button", name="Search", exact=True).click())
    expect(page).to_have_url(query_has(q="question"))
    expect(heading(page)).to_have_text(showing(1, 3, 3))
    expect(titles(page)).to_contain_text(["squad", "acme/medical-questions"])
    expect(page.locator("#q")).to_have_value("question")

    page.get_by_label(re.compile(r"^Chinese \(zh\)")).check()
    full_load(apply.click)
    expect(page).to_have_url(query_has(q="question", language="zh"))
    expect(heading(page)).to_have_text(showing(1, 1, 1))
    expect(titles(page)).to_have_text(["acme/medical-questions"])
    expect(chips(page)).to_have_text(["Search: “question” ×", "Language: Chinese (zh) ×"])
    expect(facet(page, "language", "zh")).to_be_checked()

    full_load(lambda: page.get_by_role("link", name="Clear all filters").click())
    expect(heading(page)).to_have_text(showing(1, 3, 3))
    full_load(lambda: chips(page).filter(has_text="Search").click())
    expect_unfiltered_first_page(page)
    expect(page.locator("#q")).to_have_value("")

    facet(page, "modality", "timeseries").check()
    page.locator("#sort").select_option("name")
    full_load(apply.click)
    expect(page).to_have_url(query_has(modality="timeseries", sort="name"))
    expect(heading(page)).to_have_text(showing(1, 20, 30))
    expect(titles(page).first).to_have_text(weather(1))

    full_load(lambda: pagination(page).get_by_role("link", name="Next page").click())
    expect(heading(page)).to_have_text(showing(21, 30, 30))
    expect(titles(page).first).to_have_text(weather(21))
    expect(page.locator("#sort")).to_have_value("name")
    expect(facet(page, "modality", "timeseries")).to_be_checked()

    full_load(lambda: pagination(page).get_by_role("link", name="Page 1", exact=True).click())
    expect(heading(page)).to_have_text(showing(1, 20, 30))
    expect(page).not_to_have_url(re.compile(r"page="))

    full_load(page.go_back)
    expect(heading(page)).to_have_text(showing(21, 30, 30))


# --- Bad input in the address --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message", "heading_text", "current_page"),
    [
        ("page=abc", "“abc” is not a page number; showing page 1.", showing(1, 20, TOTAL), "1"),
        (
            "per_page=10000",
            "Results per page can be 20, 50, 100; showing 20.",
            showing(1, 20, TOTAL),
            "1",
        ),
        ("page=99", "Page 99 is past the end; showing page 3 of 3.", showing(41, 45, TOTAL), "3"),
        ("sort=sideways&page=-2", "Unknown sort “sideways”", showing(1, 20, TOTAL), "1"),
    ],
    ids=["page-abc", "per-page-10000", "page-past-the-end", "unknown-sort"],
)
def test_bad_input_in_the_address_shows_a_message_and_a_usable_page(
    page: Page,
    live_server: str,
    browser_errors,
    query: str,
    message: str,
    heading_text: str,
    current_page: str,
) -> None:
    # The corrected page comes with status 400, which chromium logs as a failed resource.
    browser_errors.allow(r"status of 400")
    response = page.goto(f"/datasets?{query}")
    assert response is not None and response.status == 400
    notice = page.locator(".notice[role=alert]")
    expect(notice).to_contain_text(message)
    expect(heading(page)).to_have_text(heading_text)
    expect(titles(page)).not_to_have_count(0)
    expect(pagination(page).locator("[aria-current=page]")).to_have_text(current_page)
    expect(page.locator("#per_page")).to_have_value("20")
    expect(page.locator("#sort")).to_have_value("downloads")

    # The page still works: a page link swaps in good results and the message goes away.
    mark_document(page)
    target = "2" if current_page != "2" else "1"
    with htmx_swap(page):
        pagination(page).get_by_role("link", name=f"Page {target}", exact=True).click()
    expect(notice).to_have_count(0)
    expect(pagination(page).locator("[aria-current=page]")).to_have_text(target)
    expect(page).not_to_have_url(re.compile(re.escape(query)))
    assert_same_document(page)


# --- Accessibility and looks ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations(page: Page, live_server: str, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto("/datasets")
    expect_unfiltered_first_page(page)
    assert_no_axe_violations(page, f"on the unfiltered browse page ({scheme})")

    with htmx_swap(page):
        page.locator("#q").fill("reviews")
    with htmx_swap(page):
        facet(page, "language", "de").check()
    expect(heading(page)).to_have_text(showing(1, 1, 1))
    expect(chips(page)).to_have_count(2)
    assert_no_axe_violations(page, f"with a search and a filter ({scheme})")


def assert_labels_beside_their_controls(page: Page) -> None:
    """Each sort/per-page label sits on the same line as its select, however narrow the page."""
    for name in ("sort", "per_page"):
        label = page.locator(f'.controls label[for="{name}"]').bounding_box()
        control = page.locator(f"#{name}").bounding_box()
        assert label and control
        middle = label["y"] + label["height"] / 2
        assert control["y"] <= middle <= control["y"] + control["height"], (name, label, control)


@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots(
    new_context, live_server: str, screenshot_dir: Path, browser_errors, width: int
) -> None:
    """Full-page pictures in artifacts/screenshots/ for people to look at, plus layout checks."""
    for scheme in ("light", "dark"):
        context = new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
        page = browser_errors.watch(context.new_page())
        for name, address, heading_text in [
            ("browse", "/datasets", showing(1, 20, TOTAL)),
            ("browse-filtered", "/datasets?q=speech&modality=audio&sort=name", showing(1, 3, 3)),
        ]:
            page.goto(address)
            expect(heading(page)).to_have_text(heading_text)
            filters = page.locator("details#filters")
            if width < 860:
                # Folded on a phone so the results come first; one tap opens them.
                expect(filters).not_to_have_attribute("open", "")
                page.screenshot(
                    path=screenshot_dir / f"{name}-{width}-{scheme}.png", full_page=True
                )
                filters.locator("summary").click()
                expect(facet(page, "modality", "audio")).to_be_visible()
                name += "-filters-open"
            else:
                expect(facet(page, "modality", "audio")).to_be_visible()
            page.screenshot(path=screenshot_dir / f"{name}-{width}-{scheme}.png", full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{address} scrolls sideways by {overflow}px at {width}px wide"
            assert_labels_beside_their_controls(page)
