"""What the fuzzers of this folder found, kept as plain tests (each was a 500 before its fix)."""

from __future__ import annotations

import pytest

from tests.conftest import create_user


@pytest.mark.parametrize(
    "url",
    [
        "/combinations/99999999999999999999",
        "/combinations/99999999999999999999/manifest.json",
        "/combinations/2147483648/recipe.py",  # one past PostgreSQL's INTEGER
        "/jobs/2147483648",
        "/jobs/999999999999999999",
    ],
)
def test_an_id_too_large_for_the_database_is_not_found(client, auth, url):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = client.get(url)
    assert response.status_code == 404


def test_the_largest_id_the_database_holds_is_still_an_id(client, auth):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = client.get("/combinations/2147483647")
    assert response.status_code == 404
    assert "You have no combination at this address." in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/account/email", "/account/password", "/account/delete"])
def test_a_boosted_account_form_with_errors_gets_the_whole_account_page(client, auth, url):
    """hx-boost submits a form as htmx but wants a whole page back: all three forms, this
    one with its errors."""
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = client.post(
        url,
        data={"csrf_token": auth.csrf_token("/account")},
        headers={"HX-Request": "true", "HX-Boosted": "true"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<html" in page
    for action in ("/account/email", "/account/password", "/account/delete"):
        assert f'action="{action}"' in page


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/shared/x%00"),
        ("get", "/shared/x%00/recipe.py"),
        ("get", "/datasets?q=a%00b"),
        ("post", "/selection/acme/x%00"),
    ],
)
def test_a_nul_character_is_refused_clearly(client, auth, method, url):
    """PostgreSQL refuses NUL in any string it is given (a 500 there); every database now
    answers 400 with a message."""
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = getattr(client, method)(
        url, data={"csrf_token": auth.csrf_token()} if method == "post" else None
    )
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


def test_a_nul_character_in_a_form_is_refused_clearly(client, auth):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    response = client.post(
        "/combinations", data={"csrf_token": auth.csrf_token(), "name": "a\x00b"}
    )
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    ["/datasets?page=²", "/datasets?per_page=¹⁰⁰", "/facets/task?page=²"],
)
def test_a_page_number_in_superscript_digits_is_not_a_page_number(client, small_catalog, url):
    """ "²".isdigit() is true but int("²") fails: it was a 500."""
    response = client.get(url)
    assert response.status_code in (200, 400)
    assert "Internal" not in response.get_data(as_text=True)


def test_the_history_and_the_feed_read_superscript_pages_as_page_one(client, auth, small_catalog):
    create_user("ann@example.com")
    auth.login("ann@example.com")
    assert client.get("/feed?page=²").status_code == 200
    # The test app's Hub is a dead port: the history answers 503 (the Hub is down), not 500.
    assert client.get("/datasets/acme/movie-reviews/commits?page=²").status_code == 503
