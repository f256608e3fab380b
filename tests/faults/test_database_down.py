"""A database that cannot be reached at all: pages that need it answer with our 503 page
(Retry-After, no traceback, nothing that needs the database to draw), on either engine."""

from __future__ import annotations

import os

import pytest

from app.config import TestConfig
from tests.faults.conftest import free_port


@pytest.fixture
def unreachable_url(tmp_path) -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"  # nothing listens
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'app.db'}"  # cannot be opened


@pytest.mark.parametrize("path", ["/datasets", "/datasets?q=reviews", "/datasets/squad", "/topics"])
def test_pages_that_need_the_database_say_so_with_a_503(make_app, unreachable_url, path):
    client = make_app(TestConfig(unreachable_url)).test_client()
    response = client.get(path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_data(as_text=True)
    assert "The database cannot be reached just now. Try again in a moment." in body
    assert "Traceback" not in body and "OperationalError" not in body


def test_the_sign_in_form_itself_needs_no_database(make_app, unreachable_url):
    client = make_app(TestConfig(unreachable_url)).test_client()
    assert client.get("/auth/login").status_code == 200


def test_the_503_page_offers_no_account_links_while_who_is_signed_in_cannot_be_asked(
    make_app, unreachable_url
):
    client = make_app(TestConfig(unreachable_url)).test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1"  # a person who signed in before the database went away
    body = client.get("/datasets").get_data(as_text=True)
    assert "The database cannot be reached just now" in body
    assert "Sign in" not in body and "Register" not in body and "Sign out" not in body
    assert 'href="/datasets"' in body  # the rest of the navigation is still there
    with client.session_transaction() as session:
        assert session["_user_id"] == "1"  # still signed in for when it is back
