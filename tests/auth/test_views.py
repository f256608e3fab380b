"""Signing up, in and out as a browser does it, and the protections around it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import func, select

from app.auth import accounts, passwords
from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, create_user

HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


def without_tokens(body: str) -> str:
    """The page without its CSRF tokens, which carry a timestamp (they differ across a second)."""
    body = re.sub(r'"X-CSRFToken": "[^"]*"', "", body)
    return re.sub(r'(value|content)="[^"]*"', "", body)


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def test_register_then_sign_in(auth, client):
    response = auth.register("Ann@Example.com")
    assert response.status_code == 303
    assert response.location == "/auth/login?next=/datasets"
    assert "Sign in with that email address and password" in text(client.get(response.location))
    assert client.get("/account").status_code == 302  # registering does not sign in
    response = auth.login("ann@example.com")
    assert response.status_code == 303 and response.location == "/datasets"
    page = text(client.get("/datasets"))
    assert "Ann@example.com" in page and "Sign out" in page


def test_registering_a_taken_email_looks_exactly_like_success(auth, client):
    create_user("ann@example.com")
    fresh = auth.register("new@example.com")
    fresh_flash = text(client.get(fresh.location))
    taken = auth.register("ANN@example.com")
    taken_flash = text(client.get(taken.location))
    assert (taken.status_code, taken.location) == (fresh.status_code, fresh.location)
    assert without_tokens(taken_flash) == without_tokens(fresh_flash)
    assert user_count() == 2


def test_register_errors_are_shown_on_the_fields(auth, rendered_templates):
    response = auth.register("not-an-email", "short")
    assert response.status_code == 422
    body = text(response)
    assert rendered_templates[-1] == "auth/register.html"
    assert 'class="error-summary"' in body and 'role="alert"' in body
    assert '<a href="#email">Enter a valid email address' in body
    assert re.search(r'id="email"[^>]*aria-invalid="true"', body) or re.search(
        r'aria-invalid="true"[^>]*id="email"', body
    )
    assert 'aria-describedby="email-error"' in body


def test_a_weak_password_is_refused_on_the_field(auth):
    body = text(auth.register("ann@example.com", "password123"))
    assert "one of the most common" in body
    assert 'aria-describedby="password-hint password-error"' in body
    assert user_count() == 0


def test_htmx_form_errors_come_back_as_the_form_fragment(auth, client, rendered_templates):
    token = auth.csrf_token()
    rendered_templates.clear()
    response = client.post(
        "/auth/register", data={"csrf_token": token, "email": "", "password": ""}, headers=HX
    )
    assert response.status_code == 422
    assert rendered_templates == ["auth/_register_form.html"]
    assert text(response).startswith('\n<form id="register-form"') or "<html" not in text(response)


def test_successful_htmx_sign_in_navigates_the_whole_page(auth, client):
    create_user("ann@example.com")
    token = auth.csrf_token()
    response = client.post(
        "/auth/login?next=/account",
        data={"csrf_token": token, "email": "ann@example.com", "password": PASSWORD},
        headers=HX,
    )
    assert response.headers["HX-Redirect"] == "/account"


def test_unknown_email_and_wrong_password_get_the_same_answer(auth, client, monkeypatch):
    create_user("ann@example.com")
    verified = []
    real_verify = accounts.verify_password
    monkeypatch.setattr(
        accounts, "verify_password", lambda h, p: verified.append(h) or real_verify(h, p)
    )
    wrong = auth.login("ann@example.com", "not the password at all")
    unknown = auth.login("nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 422
    assert without_tokens(text(wrong)).replace("ann@example.com", "X") == without_tokens(
        text(unknown)
    ).replace("nobody@example.com", "X")
    assert "That email and password do not match an account." in text(unknown)
    # The unknown email cost a real argon2 verification too (against the dummy hash).
    assert len(verified) == 2 and verified[1] == passwords.dummy_hash()


def test_sign_in_clears_the_session(auth, client):
    create_user("ann@example.com")
    auth.csrf_token()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    auth.login("ann@example.com")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"].endswith(":1")


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_a_copied_session_cookie_is_dead_after_sign_out(auth, client, app):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    stolen = session_cookie(client)
    assert client.get("/account").status_code == 200
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/account")
    assert response.status_code == 302 and response.location.startswith("/auth/login")


def test_changing_the_password_ends_other_sessions_but_not_this_one(auth, client, app):
    create_user("ann@example.com")
    other = app.test_client()
    from tests.conftest import Auth

    Auth(other).login("ann@example.com")
    auth.login("ann@example.com")
    response = auth.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "a brand new long passphrase"},
    )
    assert response.status_code == 303
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 302


def test_remember_me_lasts_thirty_days_at_most(auth):
    create_user("ann@example.com")
    response = auth.login("ann@example.com", remember=True)
    cookies = {
        name: morsel
        for header in response.headers.getlist("Set-Cookie")
        for name, morsel in SimpleCookie(header).items()
    }
    remember = cookies["remember_token"]
    assert remember["httponly"] and remember["samesite"] == "Lax"
    lifetime = parsedate_to_datetime(remember["expires"]) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < lifetime <= timedelta(days=30)
    session = cookies["session"]
    assert session["httponly"] and session["samesite"] == "Lax"


def test_a_remember_cookie_dies_with_sign_out_elsewhere(auth, client, app):
    create_user("ann@example.com")
    auth.login("ann@example.com", remember=True)
    remembered = client.get_cookie("remember_token").value
    auth.logout()
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remembered)
    assert fresh.get("/account").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https:\\\\evil.com",
        "/%09/evil.com",
        "javascript:alert(1)",
        "https://evil.com/",
        "/%5Cevil.com",
        "//%2Fevil.com",
    ],
)
def test_next_only_ever_leads_to_our_own_pages(auth, target):
    create_user("ann@example.com")
    response = auth.login("ann@example.com", next=target)
    assert response.status_code == 303
    assert response.location == "/datasets"


def test_next_to_a_local_page_is_followed(auth):
    create_user("ann@example.com")
    assert auth.login("ann@example.com", next="/account").location == "/account"


def test_pages_needing_an_account_send_people_to_sign_in_and_back(client, auth):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.location == "/auth/login?next=/account"
    create_user("ann@example.com")
    assert auth.login("ann@example.com", next="/account").location == "/account"


def test_htmx_request_without_a_session_is_sent_to_sign_in_not_swapped(client):
    response = client.get(
        "/account", headers={**HX, "HX-Current-URL": "http://localhost/datasets?q=speech"}
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/auth/login?next=/datasets?q%3Dspeech"
    assert "<form" not in text(response)


def test_an_expired_form_in_htmx_reloads_the_page_with_an_explanation(client):
    response = client.post(
        "/auth/login",
        data={"csrf_token": "expired", "email": "a@b.co", "password": "x"},
        headers={**HX, "HX-Current-URL": "http://localhost/auth/login?next=/account"},
    )
    assert response.status_code == 400
    assert response.headers["HX-Redirect"] == "/auth/login?next=/account"
    assert "expired" in text(client.get("/auth/login"))


def test_an_expired_form_without_htmx_explains_itself(client):
    response = client.post("/auth/login", data={"csrf_token": "bad"})
    assert response.status_code == 400
    assert "Your form expired" in text(response)


def test_every_state_changing_route_refuses_a_request_without_a_csrf_token(app, client):
    checked = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            url = rule.build({arg: "1" for arg in rule.arguments})[1]
            response = client.open(url, method=method, data={"email": "a@b.co"})
            assert response.status_code == 400, (method, url, response.status_code)
            checked.append((method, rule.rule))
    assert ("POST", "/auth/logout") in checked and ("POST", "/account/delete") in checked


def test_sign_out_is_post_only(client):
    assert client.get("/auth/logout").status_code == 405


def test_logging_in_too_often_for_one_account_is_throttled(auth, client):
    create_user("ann@example.com")
    statuses = [auth.login("ann@example.com", "wrong passphrase!!").status_code for _ in range(11)]
    assert statuses[:10] == [422] * 10 and statuses[10] == 429
    response = auth.login("ann@example.com")  # even the right password waits
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many" in text(response)
    # Another account from the same address is not locked out by it.
    create_user("bob@example.com")
    assert auth.login("bob@example.com").status_code == 303


def test_throttled_htmx_request_gets_a_readable_fragment(auth, client):
    create_user("ann@example.com")
    for _ in range(10):
        auth.login("ann@example.com", "wrong passphrase!!")
    token = auth.csrf_token()
    response = client.post(
        "/auth/login",
        data={"csrf_token": token, "email": "ann@example.com", "password": "x"},
        headers=HX,
    )
    assert response.status_code == 429
    assert "<html" not in text(response) and "Too many" in text(response)


def test_registrations_from_one_address_are_throttled(auth):
    statuses = [auth.register(f"user{i}@example.com").status_code for i in range(21)]
    assert statuses[-1] == 429 and statuses[0] == 303


def test_private_pages_are_not_cached_or_kept_in_htmx_history(auth, client):
    create_user("ann@example.com")
    assert "hx-history" not in text(client.get("/datasets"))
    auth.login("ann@example.com")
    for url in ("/account", "/datasets"):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "private, no-store"
        assert "Cookie" in response.vary
        assert "<body hx-headers=" in text(response) and 'hx-history="false"' in text(response)


def test_auth_pages_are_not_cached(client):
    assert client.get("/auth/login").headers["Cache-Control"] == "private, no-store"


def test_account_changes_through_the_page(auth, client):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = auth.post(
        "/account/email",
        {"email": "ann.new@example.com", "current_password": "wrong one"},
    )
    assert response.status_code == 422 and "not your current password" in text(response)
    response = auth.post(
        "/account/email",
        {"email": "ann.new@example.com", "current_password": PASSWORD},
    )
    assert response.status_code == 303
    assert "ann.new@example.com" in text(client.get("/account"))


def test_account_form_errors_in_htmx_return_that_form_only(auth, client, rendered_templates):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    token = auth.csrf_token()
    rendered_templates.clear()
    response = client.post(
        "/account/delete", data={"csrf_token": token, "current_password": PASSWORD}, headers=HX
    )
    assert response.status_code == 422
    assert rendered_templates == ["auth/_delete_form.html"]
    assert "Tick the box to confirm." in text(response)
    assert user_count() == 1


def test_deleting_the_account_signs_out_and_removes_it(auth, client):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = auth.post("/account/delete", {"current_password": PASSWORD, "confirm": "y"})
    assert response.status_code == 303
    assert "have been deleted" in text(client.get("/datasets"))
    assert user_count() == 0
    assert client.get("/account").status_code == 302
    assert auth.login("ann@example.com").status_code == 422


def test_each_user_sees_only_their_own_account(two_users):
    assert "ann@example.com" in text(two_users["a"].get("/account"))
    bob_page = text(two_users["b"].get("/account"))
    assert "bob@example.com" in bob_page and "ann@example.com" not in bob_page


def test_sign_out_deletes_the_remember_cookie(auth, client):
    create_user("ann@example.com")
    auth.login("ann@example.com", remember=True)
    response = auth.logout()
    deleted = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    assert deleted and ("Max-Age=0" in deleted[0] or "1970" in deleted[0])


def test_static_files_stay_cacheable_when_signed_in(auth, client):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = client.get("/static/css/app.css")
    assert response.headers.get("Cache-Control") != "no-store"
    response.close()
