"""Combining datasets, as a person does it in the browser (issue #6).

Five datasets picked from search results by keyboard alone, the mix changed in place and the
export downloaded (and the Python on the page kept in step with the mix); the same with
JavaScript off and plain forms; removing from the results, the tray and the report; adding while
signed out; a read-only link, opened signed out and then revoked; axe-core in light and dark,
and screenshots at phone and desktop widths.

The Hub is the test app's dead port: every size comes from the catalog's size category, so
the report shows ranges ("10,000 – 99,999") and plans the mix on their middles. Every test
signs in with an account of its own; "Add to combination" makes its "My combination".
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Download, Locator, Page, expect
from sqlalchemy import select

from app.combinations import service
from app.extensions import db
from app.models import Dataset, User
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

pytestmark = pytest.mark.browser

PASSWORD = "a long unusual passphrase 42"
NAME = "My combination"
# The first five results of the unfiltered browse page (most downloaded first), with the
# range each one's size category stands for.
FIVE = {
    "squad": "10,000 – 99,999",
    "acme/handwritten-digits": "10,000 – 99,999",
    "acme/movie-reviews": "10,000 – 99,999",
    "acme/read-speech": "100,000 – 999,999",
    "acme/news-summaries": "100,000 – 999,999",
}
FIVE_TOTAL = "230,000 – 2,299,995"
# Planned on each range's geometric middle: the 100K-1M datasets weigh ten times the others.
FIVE_PROPORTIONAL = {"10,000 – 99,999": "0.0435", "100,000 – 999,999": "0.4348"}
EQUAL_FIVE = "probabilities=[0.2, 0.2, 0.2, 0.2, 0.2],"
WEATHER_SEARCH = "/datasets?q=weather"
WEATHER_ROWS = "1,000 – 9,999"

_numbers = itertools.count(1)


def unique_email(tag: str) -> str:
    return f"combinations-{tag}.{next(_numbers)}@example.org"


# --- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_limits(migrated_app: Flask, live_server: str) -> None:
    reset_limits(migrated_app)


@pytest.fixture
def make_account(migrated_app: Flask) -> Callable[[str], str]:
    return account_maker(migrated_app, unique_email)


@pytest.fixture
def open_page(
    new_context: Callable[..., BrowserContext], browser_errors: BrowserErrors
) -> Callable[..., Page]:
    """A page in a new context, watched for errors; HX-Redirect aborts are no broken link."""

    def make(**options) -> Page:
        page = browser_errors.watch(new_context(**options).new_page())
        tolerate_aborts_from_navigation(page, browser_errors)
        return page

    return make


@pytest.fixture
def combination_of(migrated_app: Flask) -> Callable[[str, list[str]], int]:
    """combination_of(email, repo_ids) -> id: the account's active combination holding these
    datasets, made through the service layer (for tests about what comes after picking)."""

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


# --- What a person sees --------------------------------------------------------------------------


def url(live_server: str, path: str) -> re.Pattern[str]:
    """Exactly this address; a "%2F" or "%3F" in it may also come unencoded."""
    pattern = (
        re.escape(live_server + path).replace("%2F", "(?:%2F|/)").replace("%3F", r"(?:%3F|\?)")
    )
    return re.compile("^" + pattern.replace("%3D", "(?:%3D|=)") + "$")


def report_url(live_server: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(live_server) + r"/combinations/(\d+)(#mix-heading)?$")


def arrive(page: Page, address: re.Pattern[str]) -> None:
    expect(page).to_have_url(address)
    page.wait_for_load_state()


def combination_id(page: Page, live_server: str) -> int:
    match = report_url(live_server).match(page.url)
    assert match, page.url
    return int(match.group(1))


def flash(page: Page) -> Locator:
    return page.locator("main .flash[role=status]")


def row(page: Page, repo_id: str) -> Locator:
    return page.locator("li.dataset-row").filter(
        has=page.get_by_role("link", name=repo_id, exact=True)
    )


def titles(page: Page) -> Locator:
    return page.locator("ol.dataset-list > li.dataset-row .dataset-title a")


def add_label(repo_id: str) -> str:
    return f"Add {repo_id} to the combination"


def remove_label(repo_id: str) -> str:
    return f"Remove {repo_id} from the combination"


def select_button(page: Page, repo_id: str, selected: bool) -> Locator:
    label = remove_label(repo_id) if selected else add_label(repo_id)
    return row(page, repo_id).get_by_role("button", name=label, exact=True)


def expect_selected(page: Page, repo_id: str) -> None:
    button = select_button(page, repo_id, True)
    expect(button).to_have_text("In combination ✓")
    expect(button).to_have_attribute("aria-pressed", "true")


def expect_not_selected(page: Page, repo_id: str) -> None:
    button = select_button(page, repo_id, False)
    expect(button).to_have_text("Add to combination")
    expect(button).to_have_attribute("aria-pressed", "false")


def tray(page: Page) -> Locator:
    return page.locator("header #selection-tray")


def expect_tray_count(page: Page, count: int) -> None:
    noun = "dataset" if count == 1 else "datasets"
    expect(tray(page).locator("summary")).to_have_text(f"Combination “{NAME}”: {count} {noun}")
    expect(tray(page).locator(".tray-list > li")).to_have_count(count)


def open_tray(page: Page) -> None:
    tray(page).locator("summary").click()
    expect(tray(page).locator("details")).to_have_attribute("open", "")


def members(page: Page) -> Locator:
    return page.locator("table.members-table > tbody > tr")


def mix_form(page: Page) -> Locator:
    return page.locator("#mix-form")


def probabilities(page: Page) -> Locator:
    """The probability cells of both plans (first_exhausted, all_exhausted)."""
    return page.locator("#mix-results table.plan-table > tbody > tr > td:first-of-type")


def exported_badge(page: Page) -> Locator:
    return page.locator("#mix-results caption .badge")


def snippet(page: Page) -> Locator:
    return page.locator("textarea#snippet")


def mix_answer(response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/mix")


def is_button(label: str) -> Callable[[dict], bool]:
    return lambda e: e["tag"] == "BUTTON" and e["label"] == label


def is_link(text: str) -> Callable[[dict], bool]:
    return lambda e: e["tag"] == "A" and e["text"] == text


def mark_document(page: Page) -> None:
    """Tag the loaded document so a later full page load would be noticed."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of swapping"


def read(download: Download) -> str:
    return Path(download.path()).read_text(encoding="utf-8")


def planned_probabilities(python: str) -> list[float]:
    match = re.search(r"^    probabilities=\[([^\]]*)\],$", python, re.MULTILINE)
    assert match, python
    return [float(p) for p in match.group(1).split(", ")]


def check_manifest(text: str, repo_ids: list[str], method: str, strategy: str) -> dict:
    manifest = json.loads(text)
    assert manifest["format"] == "dataset-explorer/combination"
    assert manifest["version"] == 1
    assert manifest["name"] == NAME
    assert manifest["mix"]["method"] == method
    assert manifest["mix"]["stopping_strategy"] == strategy
    assert sorted(d["repo_id"] for d in manifest["datasets"]) == sorted(repo_ids)
    for entry in manifest["datasets"]:
        assert entry["split"] == "train"
        assert entry["rows_source"], entry
        assert entry["rows"]["low"] < entry["rows"]["high"], entry  # a size category's range
    return manifest


def check_python(text: str, repo_ids: list[str], strategy: str) -> None:
    assert "from datasets import interleave_datasets, load_dataset" in text
    assert "mix = interleave_datasets(" in text
    assert f"    stopping_strategy={strategy!r}," in text
    for repo_id in repo_ids:
        assert f"load_dataset({repo_id!r}" in text, repo_id
    assert len(planned_probabilities(text)) == len(repo_ids)
    compile(text, "recipe.py", "exec")  # it is Python


# --- By keyboard alone, JavaScript on ------------------------------------------------------------


def test_combine_five_results_change_the_mix_and_export_by_keyboard_alone(
    open_page: Callable[..., Page], live_server: str, make_account
) -> None:
    email = make_account("keys")
    page = open_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    keyboard = page.keyboard
    sign_in_by_keyboard(page, email, "/datasets")
    arrive(page, url(live_server, "/datasets"))
    expect(titles(page).first).to_have_text("squad")
    expect(tray(page).locator("details")).to_have_count(0)  # nothing selected yet
    mark_document(page)

    for count, repo_id in enumerate(FIVE, start=1):
        current = tab_until(page, is_button(add_label(repo_id)))
        assert current["visible"], f"the focused Add button of {repo_id} shows no focus ring"
        with page.expect_response(lambda r: r.request.method == "POST" and "/selection/" in r.url):
            keyboard.press("Enter" if count % 2 else "Space")
        expect_selected(page, repo_id)
        expect(select_button(page, repo_id, True)).to_be_focused()
        assert focused(page)["visible"], "focus came back to the button without its focus ring"
        expect_tray_count(page, count)
    assert_same_document(page)
    expect(page).to_have_url(url(live_server, "/datasets"))  # the swaps left the address alone
    expect(tray(page).locator(".tray-list a")).to_have_text(list(FIVE))  # folded away

    # Back up to the tray, open it and follow its link to the report.
    tab_until(page, lambda e: e["tag"] == "SUMMARY" and e["inTray"], key="Shift+Tab")
    keyboard.press("Enter")
    expect(tray(page).locator("details")).to_have_attribute("open", "")
    tab_until(page, is_link("Open the report"))
    keyboard.press("Enter")
    arrive(page, report_url(live_server))
    number = combination_id(page, live_server)
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.locator("main .lead")).to_contain_text("5 of at most 50 datasets.")
    expect(members(page)).to_have_count(5)
    for repo_id, rows in FIVE.items():
        member = members(page).filter(has=page.get_by_role("link", name=repo_id, exact=True))
        expect(member.locator("td").nth(1)).to_contain_text(rows)
        expect(member).to_contain_text("from its size category")
    expect(page.locator("#size-heading + .verdict")).to_contain_text(f"In all: {FIVE_TOTAL} rows")
    expect(page.locator("svg.share-bars")).to_be_visible()
    expect(page.locator("#licence-heading ~ .verdict")).not_to_be_empty()
    first_plan = page.locator("#mix-results table.plan-table").first.locator("tbody > tr")
    for repo_id, rows in FIVE.items():
        expect(first_plan.filter(has_text=repo_id).locator("td").first).to_have_text(
            FIVE_PROPORTIONAL[rows]
        )
    expect(page.locator("#plan-first_exhausted-caption .badge")).to_have_text("exported")
    mark_document(page)

    # The weighting: into the radio group, then an arrow key to "Equal".
    current = tab_until(page, lambda e: e["name"] == "method")
    assert current["value"] == "proportional" and current["checked"], current
    with page.expect_response(mix_answer):
        keyboard.press("ArrowDown")
    equal = mix_form(page).get_by_role("radio", name="Equal", exact=True)
    expect(equal).to_be_checked()
    expect(equal).to_be_focused()
    expect(probabilities(page)).to_have_count(10)  # two plans of five
    expect(probabilities(page)).to_have_text(["0.2000"] * 10)
    assert_same_document(page)

    # The stopping strategy: a closed select changes with the arrow keys.
    tab_until(page, lambda e: e["id"] == "strategy")
    with page.expect_response(mix_answer):
        keyboard.press("ArrowDown")
    expect(page.locator("#strategy")).to_have_value("all_exhausted")
    expect(page.locator("#strategy")).to_be_focused()
    expect(exported_badge(page)).to_have_count(1)
    expect(page.locator("#plan-all_exhausted-caption .badge")).to_have_text("exported")
    expect(probabilities(page)).to_have_text(["0.2000"] * 10)
    assert_same_document(page)

    # The export, by keyboard: the manifest, the Python, and the copy button.
    tab_until(page, is_link("Download the manifest (JSON)"))
    with page.expect_download() as manifest_download:
        keyboard.press("Enter")
    assert manifest_download.value.suggested_filename == f"combination-{number}.json"
    manifest = check_manifest(read(manifest_download.value), list(FIVE), "equal", "all_exhausted")
    assert [d["probability"] for d in manifest["datasets"]] == [0.2] * 5

    tab_until(page, is_link("Download the Python"))
    with page.expect_download() as python_download:
        keyboard.press("Enter")
    assert python_download.value.suggested_filename == f"combination-{number}.py"
    python = read(python_download.value)
    check_python(python, list(FIVE), "all_exhausted")
    assert f"    {EQUAL_FIVE}\n" in python
    assert_same_document(page)

    tab_until(page, lambda e: e["tag"] == "BUTTON" and e["text"] == "Copy the code")
    keyboard.press("Enter")
    expect(page.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == snippet(page).input_value()  # what it says is checked in the next test
    assert "interleave_datasets(" in copied


def test_the_python_shown_follows_a_mix_changed_in_place(
    open_page: Callable[..., Page], live_server: str, make_account, combination_of
) -> None:
    """The textarea (and so "Copy the code") must show the plan the page now shows."""
    email = make_account("snippet")
    number = combination_of(email, list(FIVE))
    page = open_page()
    page.goto(f"/auth/login?next=%2Fcombinations%2F{number}")
    sign_in(page, email)
    arrive(page, report_url(live_server))
    expect(snippet(page)).to_have_value(re.compile(r"probabilities=\[0\.04347\d*, "))
    mark_document(page)
    with page.expect_response(mix_answer):
        mix_form(page).get_by_label("Equal", exact=True).check()
    expect(probabilities(page)).to_have_text(["0.2000"] * 10)
    assert_same_document(page)
    expect(snippet(page)).to_have_value(re.compile(re.escape(EQUAL_FIVE)))


# --- With JavaScript off -------------------------------------------------------------------------


def test_combine_change_the_mix_and_export_without_javascript(
    open_page: Callable[..., Page], live_server: str, make_account
) -> None:
    email = make_account("nojs")
    page = open_page(java_script_enabled=False)
    page.goto("/auth/login?next=%2Fdatasets%3Fq%3Dweather")
    sign_in(page, email)
    arrive(page, url(live_server, WEATHER_SEARCH))
    picked = titles(page).all_text_contents()[:5]
    assert len(picked) == 5 and all(p.startswith("filler/weather-station-") for p in picked)

    for count, repo_id in enumerate(picked, start=1):
        with page.expect_navigation():
            select_button(page, repo_id, False).click()
        arrive(page, url(live_server, WEATHER_SEARCH))  # back to the same results
        expect(page.locator("#q")).to_have_value("weather")
        expect_selected(page, repo_id)
        expect_tray_count(page, count)

    open_tray(page)  # <details> opens without JavaScript
    tray(page).get_by_role("link", name="Open the report").click()
    arrive(page, report_url(live_server))
    number = combination_id(page, live_server)
    expect(members(page)).to_have_count(5)
    for repo_id in picked:
        member = members(page).filter(has=page.get_by_role("link", name=repo_id, exact=True))
        expect(member.locator("td").nth(1)).to_contain_text(WEATHER_ROWS)
    expect(page.locator("#size-heading + .verdict")).to_contain_text("In all: 5,000 – 49,995 rows")
    expect(probabilities(page)).to_have_text(["0.2000"] * 10)  # the same size: even shares
    # The code is in a plain read-only textarea; the copy button needs JavaScript.
    expect(snippet(page)).to_be_visible()
    expect(snippet(page)).to_have_attribute("readonly", "")
    expect(snippet(page)).to_have_value(re.compile(re.escape(EQUAL_FIVE)))
    expect(page.get_by_role("button", name="Copy the code")).to_be_hidden()

    # Custom weights, all_exhausted, and the Recompute button.
    form = mix_form(page)
    form.get_by_label("Custom weights", exact=True).check()
    for repo_id in picked:
        form.get_by_label(repo_id, exact=True).fill("6" if repo_id == picked[-1] else "1")
    form.locator("#strategy").select_option("all_exhausted")
    with page.expect_navigation():
        form.get_by_role("button", name="Recompute", exact=True).click()
    arrive(page, report_url(live_server))
    assert page.url.endswith("#mix-heading"), page.url
    form = mix_form(page)
    expect(form.get_by_label("Custom weights", exact=True)).to_be_checked()
    expect(form.get_by_label(picked[-1], exact=True)).to_have_value("6")
    expect(form.locator("#strategy")).to_have_value("all_exhausted")
    expect(page.locator("#plan-all_exhausted-caption .badge")).to_have_text("exported")
    first_plan = page.locator("#mix-results table.plan-table").first.locator("tbody > tr")
    for repo_id in picked:
        expect(first_plan.filter(has_text=repo_id).locator("td").first).to_have_text(
            "0.6000" if repo_id == picked[-1] else "0.1000"
        )
    shown = snippet(page).input_value()
    assert sorted(planned_probabilities(shown)) == [0.1, 0.1, 0.1, 0.1, 0.6], shown

    with page.expect_download() as manifest_download:
        page.get_by_role("link", name="Download the manifest (JSON)").click()
    manifest = check_manifest(read(manifest_download.value), picked, "custom", "all_exhausted")
    assert {d["repo_id"]: d["weight"] for d in manifest["datasets"]} == {
        repo_id: 6.0 if repo_id == picked[-1] else 1.0 for repo_id in picked
    }
    assert {d["repo_id"]: d["probability"] for d in manifest["datasets"]} == {
        repo_id: 0.6 if repo_id == picked[-1] else 0.1 for repo_id in picked
    }
    with page.expect_download() as python_download:
        page.get_by_role("link", name="Download the Python").click()
    python = read(python_download.value)
    check_python(python, picked, "all_exhausted")
    assert python.split("\n", 2)[2] == shown.split("\n", 2)[2], "the download and the page differ"
    assert page.url.endswith(f"/combinations/{number}#mix-heading")  # downloads left the page


# --- Removing ------------------------------------------------------------------------------------


def test_remove_from_the_results_the_tray_and_the_report(
    open_page: Callable[..., Page], live_server: str, make_account
) -> None:
    email = make_account("remove")
    page = open_page()
    page.goto("/auth/login?next=%2Fdatasets")
    sign_in(page, email)
    arrive(page, url(live_server, "/datasets"))
    first, second, third, fourth = list(FIVE)[:4]
    for count, repo_id in enumerate([first, second, third], start=1):
        select_button(page, repo_id, False).click()
        expect_selected(page, repo_id)
        expect_tray_count(page, count)

    # Pressed again, the results' button takes the dataset out (in place, with htmx).
    mark_document(page)
    select_button(page, first, True).click()
    expect_not_selected(page, first)
    expect(select_button(page, first, False)).to_be_focused()
    expect_tray_count(page, 2)
    assert_same_document(page)

    # The tray's Remove is a plain form: a full POST, then back to the same results.
    open_tray(page)
    with page.expect_navigation():
        tray(page).get_by_role("button", name=remove_label(second), exact=True).click()
    arrive(page, url(live_server, "/datasets"))
    expect(flash(page)).to_have_text(f"Removed {second} from “{NAME}”.")
    expect_not_selected(page, second)
    expect_selected(page, third)
    expect_tray_count(page, 1)

    select_button(page, fourth, False).click()
    expect_selected(page, fourth)
    expect_tray_count(page, 2)

    open_tray(page)
    tray(page).get_by_role("link", name="Open the report").click()
    arrive(page, report_url(live_server))
    expect(members(page)).to_have_count(2)
    with page.expect_navigation():
        members(page).get_by_role("button", name=remove_label(third), exact=True).click()
    arrive(page, report_url(live_server))
    expect(flash(page)).to_have_text(f"Removed {third} from “{NAME}”.")
    expect(members(page)).to_have_count(1)
    expect(members(page).get_by_role("link", name=fourth, exact=True)).to_be_visible()
    expect(page.locator("main .lead")).to_contain_text("1 of at most 50 datasets.")
    expect_tray_count(page, 1)
    expect(probabilities(page)).to_have_text(["1.0000", "1.0000"])

    with page.expect_navigation():
        members(page).get_by_role("button", name=remove_label(fourth), exact=True).click()
    expect_tray_count(page, 0)
    expect(members(page)).to_have_count(0)
    expect(page.locator("main .empty")).to_contain_text("No datasets yet.")
    expect(tray(page).locator(".tray-body")).to_contain_text("Nothing yet")


# --- Signed out ----------------------------------------------------------------------------------


def test_add_while_signed_out_signs_in_then_adds(
    open_page: Callable[..., Page], live_server: str, make_account, browser_errors: BrowserErrors
) -> None:
    # The app answers the signed-out add with 401 and HX-Redirect to the sign-in page:
    # chromium logs the status, and htmx its responseError (the app marks every 4xx an error).
    browser_errors.allow(r"status of 401")
    browser_errors.allow(r"^Response Status Error Code 401 from /selection/acme/movie-reviews")
    email = make_account("signed-out")
    page = open_page()
    page.goto("/datasets?q=movie")
    expect(tray(page)).to_have_count(0)
    select_button(page, "acme/movie-reviews", False).click()
    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets%3Fq%3Dmovie"))
    expect(flash(page)).to_have_text("Sign in to combine datasets.")
    sign_in(page, email)
    arrive(page, url(live_server, "/datasets?q=movie"))
    expect(flash(page)).to_have_text(f"acme/movie-reviews is in your combination “{NAME}”.")
    expect_selected(page, "acme/movie-reviews")
    expect_tray_count(page, 1)


# --- Sharing -------------------------------------------------------------------------------------


def test_share_a_read_only_link_then_revoke_it(
    open_page: Callable[..., Page],
    live_server: str,
    make_account,
    combination_of,
    browser_errors: BrowserErrors,
) -> None:
    browser_errors.allow(r"status of 404")  # the revoked link, as it should be
    email = make_account("share")
    number = combination_of(email, list(FIVE)[:3])
    page = open_page()
    page.goto(f"/auth/login?next=%2Fcombinations%2F{number}")
    sign_in(page, email)
    arrive(page, report_url(live_server))
    with page.expect_navigation():
        page.get_by_role("button", name="Make a read-only link").click()
    arrive(page, url(live_server, f"/combinations/{number}#share-heading"))
    expect(flash(page)).to_contain_text("Anyone with the link can now read")
    link = page.get_by_label("Anyone with this link can read the report")
    expect(link).to_have_attribute("readonly", "")
    shared = link.input_value()
    assert re.fullmatch(re.escape(live_server) + r"/shared/[\w-]{20,64}", shared), shared

    stranger = open_page()  # another browser: signed out, never signed in
    response = stranger.goto(shared)
    assert response is not None and response.status == 200
    expect(stranger.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(stranger.locator("main .breadcrumb")).to_have_text(
        "A combination shared with you (read only)"
    )
    expect(members(stranger)).to_have_count(3)
    expect(stranger.locator("main form")).to_have_count(0)  # nothing to change it with
    expect(stranger.locator("main button:not([data-copy])")).to_have_count(0)
    expect(stranger.locator("main input:not([readonly]), main select")).to_have_count(0)
    expect(stranger.locator("#mix-form")).to_have_count(0)
    expect(stranger.locator("#mix-heading ~ p").filter(has_text="Weighting:")).to_have_text(
        "Weighting: Proportional to size; exported with first_exhausted, seed 42."
    )
    expect(probabilities(stranger)).to_have_count(6)
    expect(stranger.locator("header #selection-tray")).to_have_count(0)
    expect(
        stranger.locator("header").get_by_role("link", name="Sign in", exact=True)
    ).to_be_visible()
    token = shared.rsplit("/", 1)[1]
    manifest_link = stranger.get_by_role("link", name="Download the manifest (JSON)")
    expect(manifest_link).to_have_attribute("href", f"/shared/{token}/manifest.json")
    with stranger.expect_download() as download:
        manifest_link.click()
    check_manifest(read(download.value), list(FIVE)[:3], "proportional", "first_exhausted")
    assert_no_axe_violations(stranger, "on the shared report")

    with page.expect_navigation():
        page.get_by_role("button", name="Stop sharing").click()
    expect(flash(page)).to_have_text("The read-only link no longer works.")
    expect(page.get_by_role("button", name="Make a read-only link")).to_be_visible()

    response = stranger.goto(shared)
    assert response is not None and response.status == 404
    expect(stranger.locator("main")).to_contain_text("may have been revoked")
    expect(members(stranger)).to_have_count(0)
    answer = stranger.request.get(f"{shared}/manifest.json")
    assert answer.status == 404


# --- Accessibility and looks ---------------------------------------------------------------------


def remove_tool_marks(page: Page) -> None:
    """Playwright's screenshots and axe leave empty style="" attributes behind (see test_auth)."""
    page.evaluate(
        "document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_the_report_and_the_list(
    open_page: Callable[..., Page],
    live_server: str,
    make_account,
    combination_of,
    scheme: str,
) -> None:
    email = make_account(f"axe-{scheme}")
    number = combination_of(email, list(FIVE))
    page = open_page(color_scheme=scheme)
    page.goto(f"/auth/login?next=%2Fcombinations%2F{number}")
    sign_in(page, email)
    arrive(page, report_url(live_server))
    expect(members(page)).to_have_count(5)
    for details in page.locator("main details").all():  # the per-split and Rename/Delete folds
        details.evaluate("d => d.open = true")
    assert_no_axe_violations(page, f"on the report ({scheme})")
    remove_tool_marks(page)

    # After a change of mix swapped in place.
    with page.expect_response(mix_answer):
        mix_form(page).get_by_label("Temperature-scaled", exact=True).check()
    expect(probabilities(page)).to_have_count(10)
    assert_no_axe_violations(page, f"on the report after a change of mix ({scheme})")
    remove_tool_marks(page)

    page.goto("/combinations")
    expect(page.locator("table.combination-table > tbody > tr")).to_have_count(1)
    assert_no_axe_violations(page, f"on /combinations ({scheme})")
    remove_tool_marks(page)

    page.goto("/datasets")
    expect_selected(page, "squad")
    open_tray(page)
    assert_no_axe_violations(page, f"on the results with the tray open ({scheme})")
    remove_tool_marks(page)


# The innermost elements that reach past the right edge of the window, to say what to fix.
TOO_WIDE = """() => {
  const limit = document.documentElement.clientWidth;
  const clipped = e => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll("body *")].filter(e =>
    e.getClientRects().length && e.getBoundingClientRect().right > limit + 1 && !clipped(e));
  return wide.filter(e => !wide.some(o => o !== e && e.contains(o))).slice(0, 5).map(e =>
    e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.split(" ").join(".") : "") +
    " right=" + Math.round(e.getBoundingClientRect().right));
}"""


@pytest.mark.parametrize("width", [360, 1280])
def test_screenshots(
    open_page: Callable[..., Page],
    live_server: str,
    make_account,
    combination_of,
    screenshot_dir: Path,
    width: int,
) -> None:
    """Full-page pictures in artifacts/screenshots/ for people to look at; no sideways scroll."""
    email = make_account(f"shots-{width}")
    number = combination_of(email, list(FIVE))
    page = open_page(viewport={"width": width, "height": 900})
    page.goto(f"/auth/login?next=%2Fcombinations%2F{number}")
    sign_in(page, email)

    too_wide: list[str] = []  # every page is photographed before the test says what overflows

    def shoot(name: str) -> None:
        page.screenshot(path=screenshot_dir / f"{name}-{width}.png", full_page=True)
        remove_tool_marks(page)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            too_wide.append(
                f"{name}: {page.url} scrolls sideways by {overflow}px at {width}px wide; "
                f"too wide: {page.evaluate(TOO_WIDE)}"
            )

    arrive(page, report_url(live_server))
    expect(members(page)).to_have_count(5)
    shoot("combination-report")
    page.emulate_media(color_scheme="dark")
    shoot("combination-report-dark")
    page.emulate_media(color_scheme="light")
    page.goto("/combinations")
    expect(page.locator("table.combination-table > tbody > tr")).to_have_count(1)
    shoot("combinations")
    page.goto("/datasets")
    expect_selected(page, "squad")
    open_tray(page)
    shoot("combination-tray")
    assert not too_wide, "\n".join(too_wide)
