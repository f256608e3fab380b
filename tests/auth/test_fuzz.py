"""Arbitrary text in every form field never makes the server fail."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import TestConfig
from tests.conftest import PASSWORD, Auth, RequestIsolatingClient, create_user

FORMS = {
    "/auth/register": ("email", "password"),
    "/auth/login": ("email", "password", "remember"),
    "/account/email": ("email", "current_password"),
    "/account/password": ("current_password", "new_password"),
    "/account/delete": ("current_password", "confirm"),
}
# Text from every Unicode category (surrogates cannot travel in a form), including long runs.
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300) | st.sampled_from(
    ["", " ", "\x00", "a@b.co", "x" * 5000, "ann@example.com", PASSWORD, "' OR 1=1--", "<script>"]
)


@pytest.fixture
def unthrottled_client(app, database_url, make_app):
    """A second app on the same database with rate limits off, so fuzzing reaches the views."""
    application = make_app(TestConfig(database_url))
    application.config["RATELIMIT_ENABLED"] = False
    application.test_client_class = RequestIsolatingClient
    from app.extensions import limiter

    limiter.enabled = False
    create_user("ann@example.com")
    client = application.test_client()
    with application.app_context():
        assert Auth(client).login("ann@example.com").status_code == 303
        yield client
    limiter.enabled = True


@pytest.mark.parametrize("url", sorted(FORMS))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.lists(any_text, min_size=3, max_size=3))
def test_no_form_input_causes_a_server_error(unthrottled_client, url, values):
    token = Auth(unthrottled_client).csrf_token()
    data = {"csrf_token": token, **dict(zip(FORMS[url], values, strict=False))}
    if url == "/account/delete":
        data["current_password"] = values[0] if values[0] != PASSWORD else "not it"
    response = unthrottled_client.post(
        url, data=data, headers={"HX-Request": "true"} if values[2] else {}
    )
    assert response.status_code < 500, response.get_data(as_text=True)[:500]


@settings(max_examples=200, deadline=None)
@given(target=st.text(max_size=200))
def test_next_never_leads_off_site(target):
    from urllib.parse import urlsplit

    from app.auth.redirects import safe_next

    result = safe_next(target)
    parts = urlsplit(result)
    assert not parts.scheme and not parts.netloc
    assert result.startswith("/") and not result.startswith("//") and "\\" not in result
