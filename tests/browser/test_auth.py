"""Journeys through accounts, as a person takes them: register, sign in, the account page, sign out.

By mouse, by keyboard alone and with JavaScript off; form errors with and without htmx; what
Back shows after signing out; changing the password and deleting the account. Accounts made
only to have one are created straight through app.auth.accounts (fast, and no registration
counts against the rate limits); the limits are reset before each test all the same.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Locator, Page, Response, expect

from app.extensions import limiter
from tests.browser.conftest import BrowserErrors
from tests.browser.helpers import account_maker, focused, tab_until, tolerate_aborts_from_navigation

pytestmark = pytest.mark.browser

PASSWORD = "a long unusual passphrase 42"
NEW_PASSWORD = "another unusual passphrase 77"
REGISTERED = "Thank you. Sign in with that email address and password to continue."
SIGN_IN_FAILED = "That email and password do not match an account."
SIGNED_OUT = "You are signed out."
PASSWORD_CHANGED = "Your password is changed. Other devices have been signed out."
DELETED = "Your account and everything in it have been deleted."
NEEDS_ACCOUNT = "Sign in to see that page."

# htmx reports its own failures as events: an hx-on or js: value refused by allowEval:false, a
# swap or target that went wrong, a request refused by selfRequestsOnly, a broken history cache.
HTMX_ERROR_LISTENER = """
[
  "htmx:evalDisallowedError", "htmx:swapError", "htmx:targetError", "htmx:onLoadError",
  "htmx:sendError", "htmx:invalidPath", "htmx:historyCacheError", "htmx:historyCacheMissLoadError",
].forEach(function (name) {
  document.addEventListener(name, function (event) {
    if (window.__reportHtmxError) window.__reportHtmxError(name + " on " + location.href);
  });
});
"""

_numbers = itertools.count(1)


def unique_email(tag: str) -> str:
    """A fresh address, with capitals in it, which the app must show as they were typed."""
    return f"{tag.title()}.{next(_numbers)}@example.org"


# --- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_rate_limits(live_server: str) -> None:
    """The live server's app is shared by the module: each test starts with no attempts counted."""
    limiter.reset()


@pytest.fixture
def make_account(migrated_app: Flask, live_server: str) -> Callable[[str], str]:
    """An account with PASSWORD, made straight through the service layer; returns its email."""
    return account_maker(migrated_app, unique_email)


@pytest.fixture
def open_page(
    new_context: Callable[..., BrowserContext], browser_errors: BrowserErrors
) -> Callable[..., Page]:
    """A page in a new context (a separate browser, as far as cookies go), watched for errors."""

    def make(**options) -> Page:
        context = new_context(**options)
        context.add_init_script(HTMX_ERROR_LISTENER)
        page = browser_errors.watch(context.new_page())
        tolerate_aborts_from_navigation(page, browser_errors)
        page.expose_function(
            "__reportHtmxError", lambda report: browser_errors.problems.append(report)
        )
        return page

    return make


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    return open_page()


@pytest.fixture
def no_js_page(open_page: Callable[..., Page]) -> Page:
    return open_page(java_script_enabled=False)


@pytest.fixture
def expect_error_statuses(browser_errors: BrowserErrors) -> None:
    """Form errors come back as 422 (and ended sessions as 401): chromium logs each as an error,
    and htmx logs "Response Status Error Code 422 from ..." (the app's responseHandling in
    app/templating.py marks every 4xx as an error, a mistyped field included)."""
    browser_errors.allow(r"status of (401|422)")
    browser_errors.allow(r"^Response Status Error Code (401|422) from /(auth|account)/")


# --- What a person sees --------------------------------------------------------------------------


def flash(page: Page) -> Locator:
    return page.locator("main .flash[role=status]")


def account_link(page: Page, email: str) -> Locator:
    return page.locator("header").get_by_role("link", name=f"Your account: {email}", exact=True)


def header_sign_in(page: Page) -> Locator:
    return page.locator("header").get_by_role("link", name="Sign in", exact=True)


def sign_out_button(page: Page) -> Locator:
    return page.locator("header").get_by_role("button", name="Sign out", exact=True)


def url(live_server: str, path: str) -> re.Pattern[str]:
    """Exactly this address; a "%2F" in it may also come as "/" (both mean the same in a query)."""
    return re.compile("^" + re.escape(live_server + path).replace("%2F", "(?:%2F|/)") + "$")


def arrive(page: Page, address: re.Pattern[str]) -> None:
    """Wait for the address, then for the page to finish loading: going on at once would cut
    its scripts' loading short (reported as failed requests)."""
    expect(page).to_have_url(address)
    page.wait_for_load_state()


def expect_signed_in(page: Page, email: str) -> None:
    expect(account_link(page, email)).to_be_visible()
    expect(account_link(page, email)).to_contain_text(email)
    expect(sign_out_button(page)).to_be_visible()
    expect(header_sign_in(page)).to_have_count(0)


def expect_signed_out(page: Page) -> None:
    expect(header_sign_in(page)).to_be_visible()
    expect(page.locator("header").get_by_role("link", name="Register", exact=True)).to_be_visible()
    expect(sign_out_button(page)).to_have_count(0)


def expect_no_private_text(page: Page, email: str) -> None:
    """Neither the page nor htmx's history cache in sessionStorage holds the address."""
    for text in (email, email.lower()):
        assert text not in page.content(), f"{text} is still on {page.url}"
        if page.evaluate("typeof sessionStorage !== 'undefined'"):
            cache = page.evaluate("sessionStorage.getItem('htmx-history-cache') || ''")
            assert text not in cache, f"{text} is in htmx's history cache"


def fill_sign_in(page: Page, email: str, password: str) -> None:
    form = page.locator("#login-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Password", exact=True).fill(password)


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """From the sign-in page already open; waits until the next page has loaded."""
    before = page.url
    fill_sign_in(page, email, password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).not_to_have_url(before)
    expect_signed_in(page, email)
    page.wait_for_load_state()


def words(locator: Locator) -> str:
    return " ".join(locator.text_content().split())


def mark_document(page: Page) -> None:
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of swapping"


def post_response(page: Page, path: str) -> Callable[[Response], bool]:
    return lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith(path)


def expect_field_error(page: Page, field_id: str, message: str | re.Pattern[str]) -> None:
    """The field is marked invalid and its error is read with it."""
    field = page.locator(f"#{field_id}")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(rf"\b{field_id}-error\b"))
    expect(page.locator(f"#{field_id}-error")).to_have_text(message)


def expect_no_invalid_attributes(page: Page) -> None:
    """No attribute rendered from a Python None (type="None" would show a password in clear)."""
    bad = page.evaluate(
        """() => [...document.querySelectorAll("input, button, select, textarea, label")]
              .flatMap(e => [...e.attributes].filter(a => a.value === "None")
                                             .map(a => e.outerHTML.slice(0, 120)))"""
    )
    assert bad == [], bad
    passwords = page.locator("input[name$=password]")
    for index in range(passwords.count()):
        expect(passwords.nth(index)).to_have_attribute("type", "password")


# --- Journeys with a mouse -----------------------------------------------------------------------


def test_register_sign_in_account_and_sign_out_with_the_mouse(page: Page, live_server: str) -> None:
    email = unique_email("mouse")
    page.goto("/datasets")
    expect_signed_out(page)
    page.locator("header").get_by_role("link", name="Register", exact=True).click()
    arrive(page, url(live_server, "/auth/register"))
    expect(page).to_have_title("Register · Dataset Explorer")
    expect_no_invalid_attributes(page)

    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    # Registering does not sign in: the sign-in page says what to do next.
    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets"))
    expect(flash(page)).to_have_text(REGISTERED)
    expect_signed_out(page)
    expect(page.locator("#login-form").get_by_label("Email address")).to_have_value("")

    sign_in(page, email)
    arrive(page, url(live_server, "/datasets"))
    expect(page.locator("body")).to_have_attribute("hx-history", "false")
    # Even a public page is not to be kept once it shows who is signed in.
    reloaded = page.reload()
    assert reloaded is not None and reloaded.headers.get("cache-control") == "private, no-store"

    with page.expect_response(lambda r: r.url.endswith("/account")) as account_response:
        account_link(page, email).click()
    assert account_response.value.headers.get("cache-control") == "private, no-store"
    arrive(page, url(live_server, "/account"))
    expect(page).to_have_title("Your account · Dataset Explorer")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.locator("main")).to_contain_text(f"Signed in as {email}.")
    expect(account_link(page, email)).to_have_attribute("aria-current", "page")
    expect(page.locator("body")).to_have_attribute("hx-history", "false")
    expect_no_invalid_attributes(page)
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    repeated = sorted({i for i in ids if ids.count(i) > 1 and i != "csrf_token"})
    assert repeated == [], f"ids used more than once on /account: {repeated}"

    sign_out_button(page).click()
    arrive(page, url(live_server, "/datasets"))
    expect(flash(page)).to_have_text(SIGNED_OUT)
    expect_signed_out(page)
    expect(page.locator("body")).not_to_have_attribute("hx-history", "false")
    expect_no_private_text(page, email)


# --- By keyboard alone ---------------------------------------------------------------------------


def test_register_sign_in_account_and_sign_out_by_keyboard_alone(
    page: Page, live_server: str
) -> None:
    email = unique_email("keys")
    keyboard = page.keyboard
    page.goto("/datasets")  # typed into the address bar

    current = tab_until(page, lambda e: e["tag"] == "A" and e["text"] == "Register")
    assert current["visible"], "the focused Register link shows no focus ring"
    keyboard.press("Enter")
    arrive(page, url(live_server, "/auth/register"))

    tab_until(page, lambda e: e["id"] == "email")
    keyboard.type(email)
    keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    keyboard.type(PASSWORD)
    keyboard.press("Tab")
    current = focused(page)
    assert current["text"] == "Create account" and current["visible"], current
    keyboard.press("Enter")

    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets"))
    expect(flash(page)).to_have_text(REGISTERED)
    tab_until(page, lambda e: e["id"] == "email")
    keyboard.type(email)
    keyboard.press("Tab")
    keyboard.type(PASSWORD)
    keyboard.press("Tab")
    remember = page.get_by_label("Keep me signed in on this device for 30 days")
    expect(remember).to_be_focused()
    keyboard.press("Space")
    expect(remember).to_be_checked()
    keyboard.press("Tab")
    button = page.get_by_role("button", name="Sign in", exact=True)
    expect(button).to_be_focused()
    # A look back before sending: Shift+Tab returns to the box, still ticked.
    keyboard.press("Shift+Tab")
    expect(remember).to_be_focused()
    expect(remember).to_be_checked()
    keyboard.press("Tab")
    assert focused(page)["visible"], "the focused Sign in button shows no focus ring"
    keyboard.press("Enter")

    arrive(page, url(live_server, "/datasets"))
    expect_signed_in(page, email)
    cookies = {c["name"] for c in page.context.cookies()}
    assert "remember_token" in cookies, cookies

    current = tab_until(page, lambda e: e["tag"] == "A" and email in e["text"])
    assert current["visible"], "the focused account link shows no focus ring"
    keyboard.press("Enter")
    arrive(page, url(live_server, "/account"))
    expect(page.locator("main")).to_contain_text(f"Signed in as {email}.")

    current = tab_until(page, lambda e: e["tag"] == "BUTTON" and e["text"] == "Sign out")
    assert current["visible"], "the focused Sign out button shows no focus ring"
    keyboard.press("Enter")
    arrive(page, url(live_server, "/datasets"))
    expect(flash(page)).to_have_text(SIGNED_OUT)
    expect_signed_out(page)
    # Whatever "Keep me signed in" left behind signs nobody in any more.
    left = [c for c in page.context.cookies() if c["name"] == "remember_token"]
    if left:
        page.context.clear_cookies()
        page.context.add_cookies(left)
        page.goto("/account")
        arrive(page, url(live_server, "/auth/login?next=%2Faccount"))
        expect_signed_out(page)


# --- With JavaScript off -------------------------------------------------------------------------


def test_register_sign_in_account_and_sign_out_without_javascript(
    no_js_page: Page, live_server: str
) -> None:
    page = no_js_page
    email = unique_email("nojs")
    navigations: list[Response] = []
    page.on(
        "response", lambda r: navigations.append(r) if r.request.is_navigation_request() else None
    )

    page.goto("/auth/register")
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bjs\b"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets"))
    expect(flash(page)).to_have_text(REGISTERED)
    after_first = words(page.locator("main"))

    # Registering the same address again (with another password) answers exactly the same,
    # so the form reveals nothing about who has an account, and the first password stands.
    page.goto("/auth/register")
    page.get_by_label("Email address").fill(email.lower())
    page.get_by_label("Password", exact=True).fill("somebody else's passphrase 9")
    page.get_by_role("button", name="Create account").click()
    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets"))
    expect(flash(page)).to_have_text(REGISTERED)
    assert words(page.locator("main")) == after_first

    sign_in(page, email)
    arrive(page, url(live_server, "/datasets"))
    account_link(page, email).click()
    arrive(page, url(live_server, "/account"))
    expect(page.locator("main")).to_contain_text(f"Signed in as {email}.")
    sign_out_button(page).click()
    arrive(page, url(live_server, "/datasets"))
    expect(flash(page)).to_have_text(SIGNED_OUT)
    expect_signed_out(page)

    # Every step was a whole page from the server, never an htmx request.
    assert all(r.request.headers.get("hx-request") is None for r in navigations)
    posts = [r for r in navigations if r.request.method == "POST"]
    assert [r.status for r in posts] == [303] * 4, [(r.url, r.status) for r in posts]


# --- Form errors ---------------------------------------------------------------------------------


def test_register_errors_are_swapped_in_focused_and_linked_to_their_fields(
    page: Page, live_server: str, expect_error_statuses: None
) -> None:
    page.goto("/auth/register")
    mark_document(page)
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    with page.expect_response(post_response(page, "/auth/register")) as response:
        page.get_by_role("button", name="Create account").click()
    assert response.value.status == 422
    assert response.value.request.headers.get("hx-request") == "true"

    summary = page.locator("#register-errors")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(
        [
            "Enter a valid email address: An email address must have an @-sign.",
            "Use at least 8 characters.",
        ]
    )
    expect_field_error(page, "email", re.compile(r"^Enter a valid email address"))
    expect(page.locator("#email")).to_have_value("not-an-email")  # kept to correct
    expect(page.locator("#password")).to_have_value("")  # a password is never sent back
    expect_no_invalid_attributes(page)
    assert_same_document(page)

    # From the summary, Tab reaches its link and Enter moves focus to the field.
    page.keyboard.press("Tab")
    expect(summary.get_by_role("link").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#email")).to_be_focused()

    # Nothing filled in at all: one message per field, each link leading to its field.
    page.locator("#email").fill("")
    with page.expect_response(post_response(page, "/auth/register")):
        page.get_by_role("button", name="Create account").click()
    expect(summary.get_by_role("link")).to_have_text(
        ["Enter your email address.", "Choose a password."]
    )
    expect(summary).to_be_focused()
    expect_field_error(page, "email", "Enter your email address.")
    expect_field_error(page, "password", "Choose a password.")
    # The password's hint is still read with it, before the error.
    expect(page.locator("#password")).to_have_attribute(
        "aria-describedby", "password-hint password-error"
    )
    summary.get_by_role("link", name="Choose a password.").click()
    expect(page.locator("#password")).to_be_focused()
    summary.get_by_role("link", name="Enter your email address.").click()
    expect(page.locator("#email")).to_be_focused()

    # A valid address with a password too short: the password's rule this time.
    page.locator("#email").fill(unique_email("short"))
    page.locator("#password").fill("short")
    with page.expect_response(post_response(page, "/auth/register")):
        page.get_by_role("button", name="Create account").click()
    expect(summary.get_by_role("link")).to_have_text(["Use at least 8 characters."])
    expect(summary).to_be_focused()
    expect_field_error(page, "password", "Use at least 8 characters.")
    expect(page.locator("#email")).not_to_have_attribute("aria-invalid", "true")

    page.locator("#password").fill("password123")
    with page.expect_response(post_response(page, "/auth/register")):
        page.get_by_role("button", name="Create account").click()
    expect_field_error(page, "password", re.compile("one of the most common"))
    expect(summary).to_be_focused()
    assert_same_document(page)


def test_register_reports_a_bad_email_and_a_short_password_at_once(
    page: Page, live_server: str, expect_error_statuses: None
) -> None:
    page.goto("/auth/register")
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    with page.expect_response(post_response(page, "/auth/register")):
        page.get_by_role("button", name="Create account").click()
    expect(page.locator("#register-errors")).to_be_focused()
    expect(page.locator("#password")).to_have_attribute("aria-invalid", "true", timeout=500)


def test_sign_in_errors_are_swapped_in_and_say_the_same_for_unknown_emails(
    page: Page, live_server: str, make_account, expect_error_statuses: None
) -> None:
    email = make_account("wrong")
    page.goto("/auth/login")
    mark_document(page)
    summary = page.locator("#login-errors")
    messages = []
    for address in (email, unique_email("nobody")):
        fill_sign_in(page, address, "not the right passphrase")
        with page.expect_response(post_response(page, "/auth/login")) as response:
            page.get_by_role("button", name="Sign in", exact=True).click()
        assert response.value.status == 422
        expect(summary).to_be_focused()
        expect(summary.get_by_role("listitem")).to_have_text([SIGN_IN_FAILED])
        expect(page.locator("#email")).to_have_value(address)
        expect(page.locator("#password")).to_have_value("")
        messages.append(words(page.locator("#login-errors")))
    assert messages[0] == messages[1]
    expect_no_invalid_attributes(page)
    assert_same_document(page)

    fill_sign_in(page, email, PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    arrive(page, url(live_server, "/datasets"))
    expect_signed_in(page, email)


def test_form_errors_without_javascript_come_with_the_whole_page(
    no_js_page: Page, live_server: str, make_account, expect_error_statuses: None
) -> None:
    page = no_js_page
    email = make_account("nojs-wrong")
    page.goto("/auth/register")
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    with page.expect_response(post_response(page, "/auth/register")) as response:
        page.get_by_role("button", name="Create account").click()
    assert response.value.status == 422 and response.value.request.is_navigation_request()
    expect(page).to_have_title("Register · Dataset Explorer")
    summary = page.locator("#register-errors")
    expect(summary).to_be_focused()  # by its autofocus attribute, no script needed
    expect(summary.get_by_role("link")).to_have_text(
        [
            "Enter a valid email address: An email address must have an @-sign.",
            "Use at least 8 characters.",
        ]
    )
    expect_field_error(page, "email", re.compile(r"^Enter a valid email address"))
    expect(page.locator("#email")).to_have_value("not-an-email")
    summary.get_by_role("link").first.click()
    expect(page.locator("#email")).to_be_focused()

    page.goto("/auth/login")
    fill_sign_in(page, email, "not the right passphrase")
    with page.expect_response(post_response(page, "/auth/login")) as response:
        page.get_by_role("button", name="Sign in", exact=True).click()
    assert response.value.status == 422 and response.value.request.is_navigation_request()
    summary = page.locator("#login-errors")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("listitem")).to_have_text([SIGN_IN_FAILED])
    fill_sign_in(page, email, PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    arrive(page, url(live_server, "/datasets"))
    expect_signed_in(page, email)


# --- Pages that need an account; Back after signing out ------------------------------------------


def test_a_page_that_needs_an_account_asks_to_sign_in_then_comes_back(
    page: Page, live_server: str, make_account
) -> None:
    email = make_account("next")
    page.goto("/account")
    arrive(page, url(live_server, "/auth/login?next=%2Faccount"))
    expect(flash(page)).to_have_text(NEEDS_ACCOUNT)
    # Registering from here would come back too.
    expect(page.locator("main").get_by_role("link", name="Register")).to_have_attribute(
        "href", re.compile(r"^/auth/register\?next=(%2F|/)account$")
    )
    sign_in(page, email)
    arrive(page, url(live_server, "/account"))
    expect(page.locator("main")).to_contain_text(f"Signed in as {email}.")


def test_back_after_signing_out_shows_nothing_private(
    page: Page, live_server: str, make_account, open_page: Callable[..., Page]
) -> None:
    email = make_account("back")
    page.goto("/datasets")
    header_sign_in(page).click()
    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets"))
    sign_in(page, email)
    arrive(page, url(live_server, "/datasets"))

    # Signed in, an htmx search pushes a history entry; htmx must not keep a copy of the page.
    page.locator("#q").fill("speech")
    expect(page.locator("#results-heading")).to_contain_text("of 3 datasets")
    expect(page, "the address (kept in history) holds the search and nothing else").to_have_url(
        re.compile(r"/datasets\?q=speech$")
    )
    account_link(page, email).click()
    arrive(page, url(live_server, "/account"))
    expect(page.locator("main")).to_contain_text(email)
    signed_in_cookies = page.context.cookies()

    sign_out_button(page).click()
    arrive(page, url(live_server, "/datasets"))
    expect(flash(page)).to_have_text(SIGNED_OUT)
    expect_no_private_text(page, email)

    page.go_back()
    # The account page is asked for again, and needs signing in: nothing of it was kept.
    arrive(page, url(live_server, "/auth/login?next=%2Faccount"))
    expect_signed_out(page)
    expect_no_private_text(page, email)

    page.go_back()
    arrive(page, re.compile(r"/datasets\?q=speech$"))
    expect(page.locator("#results-heading")).to_contain_text("of 3 datasets")
    expect_signed_out(page)
    expect_no_private_text(page, email)

    # The session cookie from before signing out, replayed in another browser, opens nothing.
    other = open_page()
    other.context.add_cookies(signed_in_cookies)
    other.goto("/account")
    arrive(other, url(live_server, "/auth/login?next=%2Faccount"))
    expect_no_private_text(other, email)


# --- The account page ----------------------------------------------------------------------------


def test_change_password_in_place_and_other_devices_are_signed_out(
    open_page: Callable[..., Page], live_server: str, make_account, expect_error_statuses: None
) -> None:
    email = make_account("change")
    phone, laptop = open_page(), open_page()
    for device in (phone, laptop):
        device.goto("/auth/login?next=%2Faccount")
        sign_in(device, email)
        arrive(device, url(live_server, "/account"))

    page = laptop
    mark_document(page)
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill("not my password at all")
    form.get_by_label("New password").fill(NEW_PASSWORD)
    with page.expect_response(post_response(page, "/account/password")) as response:
        form.get_by_role("button", name="Change password").click()
    assert response.value.status == 422
    summary = page.locator("#password-errors")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(["That is not your current password."])
    expect_field_error(page, "password-form-current_password", "That is not your current password.")
    summary.get_by_role("link").click()
    expect(form.get_by_label("Current password")).to_be_focused()
    # The other forms on the page are untouched.
    expect(page.locator("#email-errors, #delete-errors")).to_have_count(0)
    expect(page.locator("#email-form [aria-invalid], #delete-form [aria-invalid]")).to_have_count(0)
    expect_no_invalid_attributes(page)
    assert_same_document(page)

    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(flash(page)).to_have_text(PASSWORD_CHANGED)
    arrive(page, url(live_server, "/account"))
    expect_signed_in(page, email)

    # The phone, still showing the account page, was signed out: its next htmx request leads it
    # to the sign-in page (never a silent failure), and so does loading any private page.
    phone.locator("#email-form").get_by_label("New email address").fill(unique_email("moved"))
    phone.locator("#email-form").get_by_label("Current password").fill(PASSWORD)
    phone.get_by_role("button", name="Change email address").click()
    arrive(phone, url(live_server, "/auth/login?next=%2Faccount"))
    expect_signed_out(phone)
    phone.goto("/account")
    arrive(phone, url(live_server, "/auth/login?next=%2Faccount"))
    expect_no_private_text(phone, email)

    # The old password no longer works; the new one does.
    fill_sign_in(phone, email, PASSWORD)
    phone.get_by_role("button", name="Sign in", exact=True).click()
    expect(phone.locator("#login-errors")).to_contain_text(SIGN_IN_FAILED)
    sign_in(phone, email, NEW_PASSWORD)
    arrive(phone, url(live_server, "/account"))
    expect(phone.locator("main")).to_contain_text(f"Signed in as {email}.")  # email unchanged


def test_delete_account_needs_the_box_ticked_then_the_account_is_gone(
    page: Page, live_server: str, make_account, expect_error_statuses: None
) -> None:
    email = make_account("delete")
    page.goto("/auth/login?next=%2Faccount")
    sign_in(page, email)
    mark_document(page)
    form = page.locator("#delete-form")
    form.get_by_label("Current password").fill(PASSWORD)
    with page.expect_response(post_response(page, "/account/delete")) as response:
        form.get_by_role("button", name="Delete my account").click()
    assert response.value.status == 422
    summary = page.locator("#delete-errors")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(["Tick the box to confirm."])
    expect_field_error(page, "delete-form-confirm", "Tick the box to confirm.")
    summary.get_by_role("link").click()
    confirm = form.get_by_label(re.compile("^I understand that my account"))
    expect(confirm).to_be_focused()
    expect(confirm).not_to_be_checked()
    assert_same_document(page)

    confirm.check()
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Delete my account").click()
    arrive(page, url(live_server, "/datasets"))
    expect(flash(page)).to_have_text(DELETED)
    expect_signed_out(page)
    expect_no_private_text(page, email)

    header_sign_in(page).click()
    arrive(page, url(live_server, "/auth/login?next=%2Fdatasets"))
    fill_sign_in(page, email, PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#login-errors")).to_contain_text(SIGN_IN_FAILED)
    expect_signed_out(page)


# --- Accessibility and looks ---------------------------------------------------------------------


def remove_tool_marks(page: Page) -> None:
    """Playwright's screenshots and axe leave empty style="" attributes on inputs; htmx copies
    an old element's attributes onto its replacement while settling, and the CSP (rightly)
    reports the copied inline style. The page never has any of its own: take them away."""
    page.evaluate(
        "document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))"
    )


def assert_no_axe_violations(page: Page, when: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    remove_tool_marks(page)
    if results.violations_count:
        pytest.fail(f"axe found problems {when}:\n{results.generate_report()}", pytrace=False)


def show_sign_in_error(page: Page, email: str) -> None:
    page.goto("/auth/login")
    fill_sign_in(page, email, "not the right passphrase")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#login-errors")).to_be_focused()


def show_account_errors(page: Page) -> None:
    """The account page with an error in one form (swapped in by htmx)."""
    page.locator("#delete-form").get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-errors")).to_be_focused()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_account_pages(
    open_page: Callable[..., Page],
    live_server: str,
    make_account,
    expect_error_statuses: None,
    scheme: str,
) -> None:
    email = make_account(f"axe-{scheme}")
    page = open_page(color_scheme=scheme)
    page.goto("/auth/register")
    assert_no_axe_violations(page, f"on /auth/register ({scheme})")
    page.goto("/auth/login")
    assert_no_axe_violations(page, f"on /auth/login ({scheme})")
    show_sign_in_error(page, email)
    assert_no_axe_violations(page, f"on /auth/login with an error ({scheme})")

    sign_in(page, email)
    page.goto("/account")
    assert_no_axe_violations(page, f"on /account ({scheme})")
    show_account_errors(page)
    assert_no_axe_violations(page, f"on /account with an error ({scheme})")


@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots(
    open_page: Callable[..., Page],
    live_server: str,
    make_account,
    screenshot_dir: Path,
    expect_error_statuses: None,
    width: int,
) -> None:
    """Full-page pictures in artifacts/screenshots/ for people to look at, plus layout checks."""
    # A long address (they may be up to 254 characters) must wrap, not push the page sideways.
    email = make_account(f"averyveryverylongaddressforscreenshots{width}")
    page = open_page(viewport={"width": width, "height": 900})

    def shoot(name: str) -> None:
        page.screenshot(path=screenshot_dir / f"{name}-{width}.png", full_page=True)
        remove_tool_marks(page)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px at {width}px wide"
        # Text inputs fill their form's width, and the form fits in the window.
        for box in page.locator("input[type=email], input[type=password]").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().right)"
        ):
            assert box <= width, f"an input pokes out of the window at {width}px: {box}"

    show_sign_in_error(page, email)
    shoot("login-errors")
    sign_in(page, email)
    page.goto("/account")
    shoot("account")
    show_account_errors(page)
    shoot("account-errors")
    page.emulate_media(color_scheme="dark")
    shoot("account-errors-dark")
