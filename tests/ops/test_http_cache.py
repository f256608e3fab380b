"""HTTP caching: validators and 304s on public pages, nothing kept of personal ones.

Every page today carries the visitor's CSRF token (and a first visit sets the session cookie),
so public pages are `private, no-cache` for signed-out visitors: their own browser revalidates
them, no shared cache keeps them. The `public` branch is exercised on a page that carries
nothing of its visitor (see app/http_cache.py).
"""

from __future__ import annotations

import pytest
from flask import render_template_string, session

from app.config import TestConfig
from app.extensions import db
from app.http_cache import EXTENSION_KEY
from app.models import Combination, Job
from app.semantic import topics
from tests.conftest import Auth
from tests.ops.conftest import add_datasets, combination_of, dataset_ids

HX = {"HX-Request": "true"}
REPO = "acme/movie-reviews"


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.headers.get("Cache-Control", "").split(",") if part}


def vary(response) -> set[str]:
    return {part.strip().lower() for part in response.headers.get("Vary", "").split(",")}


@pytest.fixture
def site(hub_app, hub, small_catalog, topic_embedder, monkeypatch):
    """The catalog, a dataset the fake Hub knows, and a fitted topic map; the public URLs."""
    monkeypatch.setitem(hub_app.extensions, "embedder", topic_embedder)
    hub.add_dataset(REPO, card="# Reviews\n\nFifty thousand reviews.\n", likes=12)
    version = topics.fit_topic_model(db.session, topic_embedder)
    number = version.topics[0].number
    return {
        "catalog": "/datasets",
        "search": "/datasets?q=reviews",
        "search fragment": ("/datasets?q=reviews", HX),
        "facet values": "/facets/task",
        "dataset": f"/datasets/{REPO}",
        "history": f"/datasets/{REPO}/commits",
        "history fragment": (f"/datasets/{REPO}/commits", HX),
        "topic map": "/topics",
        "topic": f"/topics/{number}",
    }


def get(client, target, **headers):
    url, extra = (target, {}) if isinstance(target, str) else target
    return client.get(url, headers={**extra, **headers})


def test_every_public_page_has_an_etag_and_answers_a_conditional_request_with_304(site, client):
    for name, target in site.items():
        first = get(client, target)
        assert first.status_code == 200, name
        etag = first.headers.get("ETag")
        assert etag, name
        assert cache_control(first) == {"private", "no-cache"}, name
        assert {"cookie", "hx-request"} <= vary(first), name

        again = get(client, target, **{"If-None-Match": etag})
        assert again.status_code == 304, name
        assert again.get_data() == b"", name
        assert again.headers["ETag"] == etag, name
        assert cache_control(again) == {"private", "no-cache"}, name

        head = client.head(target if isinstance(target, str) else target[0])
        assert head.status_code == 200 and head.get_data() == b"", name


def test_an_etag_from_an_older_page_gets_the_new_page(site, client):
    etag = client.get("/datasets").headers["ETag"]
    add_datasets(1, prefix="new")  # a catalog change the page shows (its total)
    response = client.get("/datasets", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert "46 datasets" in response.get_data(as_text=True)


def test_the_fragment_and_the_whole_page_have_different_etags(site, client):
    page = client.get("/datasets?q=reviews")
    fragment = client.get("/datasets?q=reviews", headers=HX)
    assert page.headers["ETag"] != fragment.headers["ETag"]
    # Each validator only ever confirms its own representation.
    crossed = client.get(
        "/datasets?q=reviews", headers={**HX, "If-None-Match": page.headers["ETag"]}
    )
    assert crossed.status_code == 200
    assert crossed.get_data(as_text=True) == fragment.get_data(as_text=True)


def test_another_session_never_gets_a_304_for_a_page_holding_someone_elses_token(site, client, app):
    etag = client.get("/datasets").headers["ETag"]
    stranger = app.test_client()
    response = stranger.get("/datasets", headers={"If-None-Match": etag})
    assert response.status_code == 200  # with a page of its own, and its own token
    assert response.headers["ETag"] != etag


def test_an_answer_that_sets_a_cookie_is_never_public(site, app):
    public = set()
    for name, target in site.items():
        response = get(app.test_client(), target)  # a first visit: no cookie yet
        assert response.status_code == 200, name
        if response.headers.getlist("Set-Cookie"):
            assert cache_control(response) == {"private", "no-cache"}, name
        else:
            assert cache_control(response) == {"public", "max-age=60"}, name
            assert "csrf_token" not in response.get_data(as_text=True), name
            public.add(name)
    # Only the history fragment carries no form; every other page renders a CSRF token, so
    # flask-wtf puts its raw token in a new session cookie.
    assert public == {"history fragment"}


def test_signed_in_visitors_pages_are_private_and_never_stored(site, person):
    for name, target in site.items():
        response = get(person.client, target)
        assert response.status_code == 200, name
        assert cache_control(response) == {"private", "no-store"}, name
        assert "ETag" not in response.headers, name
        assert "cookie" in vary(response), name


def test_personal_pages_are_never_stored(app, client, person):
    add_datasets(3)
    mine = combination_of(person.user_id, dataset_ids(2))
    combination = db.session.get(Combination, mine)
    combination.share_token = "s" * 32
    job = Job(kind="embed", status="done")
    db.session.add(job)
    db.session.commit()
    for url in (
        "/following",
        "/feed",
        "/account",
        "/combinations",
        f"/combinations/{mine}",
        f"/combinations/{mine}/manifest.json",
        f"/jobs/{job.id}",
    ):
        response = person.client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in cache_control(response), url
        assert "ETag" not in response.headers, url
    # Without signing in: a shared combination (revocable), a job, the sign-in page.
    for url in (f"/shared/{'s' * 32}", f"/jobs/{job.id}", "/auth/login"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert cache_control(response) == {"private", "no-store"}, url
        assert "ETag" not in response.headers, url


def test_posts_are_never_cached(app, client, person):
    add_datasets(1)
    repo_id = "bulk/set-00000"
    signed_in = Auth(person.client).post(f"/follows/{repo_id}", {"action": "follow"})
    assert signed_in.status_code == 303
    signed_out = Auth(client).post(f"/follows/{repo_id}", {"action": "follow"})
    assert signed_out.status_code == 303
    assert signed_out.headers["Location"].startswith("/auth/login")  # to sign in first
    for response in (signed_in, signed_out):
        assert cache_control(response) == {"no-store"}
        assert "ETag" not in response.headers


def test_errors_on_public_pages_are_not_cached(site, client):
    for url, status in (
        ("/datasets/acme/not-there", 404),
        ("/datasets?page=9999", 400),
        ("/topics/999", 404),
        ("/facets/nonsense", 404),
    ):
        response = client.get(url)
        assert response.status_code == status, url
        assert cache_control(response) == {"no-store"}, url
        assert "ETag" not in response.headers, url


def test_static_files_keep_their_own_caching(client):
    response = client.get("/static/css/app.css")
    response.close()
    assert response.status_code == 200
    assert "no-store" not in cache_control(response)
    assert "ETag" in response.headers  # Flask's own, from the file


@pytest.fixture
def plain_app(make_app, database_url):
    """An app with a page the same for everyone, and pages that are not, marked public."""
    application = make_app(TestConfig(database_url))

    @application.get("/plain")
    def plain():
        return "<p>The same for every visitor.</p>"

    @application.get("/remembers")
    def remembers():
        session["seen"] = True
        return "<p>Sets a cookie.</p>"

    @application.get("/with-token")
    def with_token():
        return render_template_string("<p>{{ csrf_token() }}</p>")

    application.extensions[EXTENSION_KEY] |= {"plain", "remembers", "with_token"}
    return application


def test_a_page_the_same_for_every_visitor_is_public_for_a_short_time(plain_app):
    client = plain_app.test_client()
    response = client.get("/plain")
    assert cache_control(response) == {"public", "max-age=60"}
    assert not response.headers.getlist("Set-Cookie")
    etag = response.headers["ETag"]
    assert not etag.startswith("W/")  # the bytes themselves: a strong validator
    assert {"cookie", "hx-request"} <= vary(response)
    assert client.get("/plain", headers={"If-None-Match": etag}).status_code == 304


def test_a_page_that_sets_a_cookie_or_holds_a_token_is_not_public(plain_app):
    for url in ("/remembers", "/with-token"):
        response = plain_app.test_client().get(url)
        assert response.headers.getlist("Set-Cookie"), url
        assert cache_control(response) == {"private", "no-cache"}, url
