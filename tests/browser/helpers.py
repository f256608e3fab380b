"""Small helpers shared by the browser tests."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect


def assert_no_axe_violations(page: Page, when: str) -> None:
    """Run axe-core on the page as it is; fail with its readable report."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    if results.violations_count:
        pytest.fail(f"axe found problems {when}:\n{results.generate_report()}", pytrace=False)


# What a keyboard test may ask of the focused element (an SVG node has no innerText and an
# SVGAnimatedString for a class, hence the fallbacks).
FOCUSED = """() => {
  const e = document.activeElement;
  return {tag: e.tagName.toUpperCase(), id: e.id, name: e.getAttribute("name"), value: e.value,
          type: e.getAttribute("type"), rel: e.getAttribute("rel"),
          cls: e.getAttribute("class") || "", role: e.getAttribute("role"),
          label: e.getAttribute("aria-label"), pressed: e.getAttribute("aria-pressed"),
          checked: e.checked === true,
          text: (e.innerText || e.value || e.textContent || "").trim().slice(0, 80),
          visible: e.matches(":focus-visible"),
          inTray: e.closest("#selection-tray") !== null,
          inMap: e.closest("figure.semantic-map") !== null,
          inMapData: e.closest("details.map-data") !== null,
          inSuggestions: e.closest("ul.suggestion-list") !== null};
}"""


def focused(page: Page) -> dict:
    """What has keyboard focus: its tag, identity, state, text and where it sits."""
    return page.evaluate(FOCUSED)


def tab_until(page: Page, wanted, key: str = "Tab", limit: int = 150) -> dict:
    """Press Tab (or Shift+Tab) until the focused element is the wanted one, as a keyboard
    user would."""
    return press_until(page, wanted, focused, key, limit)


def press_until(page: Page, wanted, read, key: str = "Tab", limit: int = 150) -> dict:
    """Press `key` until `read(page)` (what has focus) is what `wanted` accepts."""
    current: dict = {}
    for _ in range(limit):
        page.keyboard.press(key)
        current = read(page)
        if wanted(current):
            return current
    raise AssertionError(f"{limit} presses of {key} never reached the element; last: {current}")


def tolerate_aborts_from_navigation(page: Page, browser_errors) -> None:
    """Two requests cut short by a navigation are no broken link: the favicon's load, and an
    htmx request the app answered with HX-Redirect (htmx leaves the page while the answer's
    body is still being read). Every other failed request is still reported."""
    redirected: set = set()
    page.on(
        "response",
        lambda response: (
            redirected.add(response.request) if "hx-redirect" in response.headers else None
        ),
    )

    def request_failed(request) -> None:
        if request.failure == "net::ERR_ABORTED" and (
            request.url.split("?")[0].endswith("/static/favicon.svg") or request in redirected
        ):
            return
        browser_errors._request_failed(request)

    page.remove_listener("requestfailed", browser_errors._request_failed)
    page.on("requestfailed", request_failed)


def account_maker(app, email_for):
    """make(tag) -> email: an account with the tests' PASSWORD, made through the service layer."""
    from app.auth import accounts
    from app.extensions import db
    from tests.conftest import PASSWORD

    def make(tag: str) -> str:
        email = email_for(tag)
        with app.app_context():
            assert accounts.register(db.session, email, PASSWORD) is not None
            db.session.remove()
        return email

    return make


def sign_in(page: Page, email: str) -> None:
    """From the sign-in page already open, with the mouse, with the tests' PASSWORD."""
    from tests.conftest import PASSWORD

    form = page.locator("#login-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    before = page.url
    form.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).not_to_have_url(before)
    expect(page.locator("header").get_by_role("button", name="Sign out")).to_be_visible()
    page.wait_for_load_state()


def reset_limits(app: Flask) -> None:
    """No sign-in attempts counted by the rate limits, no Hub failures remembered."""
    from app.extensions import limiter
    from app.hub.service import EXTENSION_KEY

    limiter.reset()
    app.extensions[EXTENSION_KEY].reset()


def sign_in_by_keyboard(page: Page, email: str, next_path: str) -> None:
    """Open the sign-in page as if typed into the address bar, then sign in with keys alone:
    Tab to the email field, type it, Tab, type the tests' PASSWORD, Enter."""
    from urllib.parse import quote

    from tests.conftest import PASSWORD

    page.goto(f"/auth/login?next={quote(next_path, safe='')}")
    press_until(page, lambda e: e["id"] == "email", _focused_id)
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def _focused_id(page: Page) -> dict:
    return {"id": page.evaluate("() => document.activeElement.id")}
