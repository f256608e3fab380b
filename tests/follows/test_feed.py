"""Refreshing followed datasets, the feed, marking as seen and the Atom feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.follows import feed, service
from app.follows.refresh import refresh_followed
from app.models import Dataset, DatasetChange, DatasetSnapshot
from tests.conftest import Auth, create_user

REVIEWS = "acme/movie-reviews"


def text(response) -> str:
    return response.get_data(as_text=True)


def dataset_id(repo_id: str) -> int:
    return db.session.scalar(select(Dataset.id).where(Dataset.repo_id == repo_id))


@pytest.fixture
def followed(hub_app, hub, small_catalog, client):
    """Ann follows the reviews dataset; the Hub has it with a known history; one baseline look."""
    history = [
        {
            "title": f"Edit {n}",
            "date": (datetime(2025, 1, 1, tzinfo=UTC) - timedelta(days=n)).isoformat(),
        }
        for n in range(3)
    ]
    hub.add_dataset(REVIEWS, license="mit", commits=history, likes=5, card="# Reviews\n")
    user = create_user("ann@example.com")
    service.set_following(db.session, user.id, dataset_id(REVIEWS), True)
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    Auth(client).login("ann@example.com")
    return user


def test_the_first_refresh_is_a_baseline(followed):
    assert db.session.scalar(select(func.count(DatasetSnapshot.id))) == 1
    assert db.session.scalar(select(func.count(DatasetChange.id))) == 0


def test_a_refresh_records_commits_and_metadata_changes(followed, hub, hub_app, client):
    hub.touch(REVIEWS, title="Add a test split", when=datetime.now(UTC))
    hub.update(REVIEWS, license="cc-by-nc-4.0", gated="manual")
    summary = refresh_followed(db.session, hub_app.extensions["hub_client"])
    assert summary.refreshed == 1 and summary.changes >= 3
    kinds = set(db.session.scalars(select(DatasetChange.kind)))
    assert {"commit", "license", "gated"} <= kinds
    body = text(client.get("/feed"))
    assert "commit <q>Add a test split</q>" in body
    assert "<strong>licence changed from mit to cc-by-nc-4.0</strong>" in body
    assert "<strong>became gated</strong>" in body
    assert body.count('<span class="badge">New</span>') >= 3


def test_each_dataset_is_fetched_once_however_many_follow_it(followed, hub, hub_app):
    for n in range(3):
        user = create_user(f"user{n}@example.com")
        service.set_following(db.session, user.id, dataset_id(REVIEWS), True)
    hub.clear_log()
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    assert hub.count(r"^/api/datasets/acme/movie-reviews$") == 1


def test_a_hub_failure_mid_refresh_writes_nothing_for_that_dataset(followed, hub, hub_app):
    hub.touch(REVIEWS, title="Late change")
    hub.fail("status", status=503, path=r"/commits/")
    summary = refresh_followed(db.session, hub_app.extensions["hub_client"])
    assert summary.failed and summary.refreshed == 0
    assert db.session.scalar(select(func.count(DatasetSnapshot.id))) == 1
    assert db.session.scalar(select(func.count(DatasetChange.id))) == 0


def test_following_shows_new_commits_until_marked_seen(followed, hub, hub_app, client):
    hub.touch(REVIEWS, title="One", when=datetime.now(UTC))
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    page = text(client.get("/following"))
    assert "1 new commit</span>" in page
    assert "Last commit: <q>One</q>" in page
    auth = Auth(client)
    response = auth.post(f"/following/{REVIEWS}/seen", {"next": "/following"})
    assert response.status_code == 303
    assert "new commit" not in text(client.get("/following"))


def test_mark_all_as_seen(followed, hub, hub_app, client):
    hub.touch(REVIEWS, title="Two", when=datetime.now(UTC))
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    Auth(client).post("/feed/seen", {})
    assert '<span class="badge">New</span>' not in text(client.get("/feed"))


def test_an_empty_feed_explains_itself(hub_app, small_catalog, client):
    create_user("ann@example.com")
    Auth(client).login("ann@example.com")
    assert "Nothing has changed yet" in text(client.get("/feed"))


def test_the_atom_feed_at_a_secret_address(followed, hub, hub_app, client):
    hub.touch(REVIEWS, title="Atom-worthy", when=datetime.now(UTC))
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    page = text(client.get("/feed"))
    url = re.search(r'href="(http://localhost/feed/[^"]+\.atom)"', page).group(1)
    anonymous = hub_app.test_client()
    response = anonymous.get(url.removeprefix("http://localhost"))
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    root = ElementTree.fromstring(response.data)
    titles = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert any("Atom-worthy" in (t or "") for t in titles)
    # A new address kills the old one.
    Auth(client).post("/account/feed-token", {})
    assert anonymous.get(url.removeprefix("http://localhost")).status_code == 404
    assert anonymous.get("/feed/not-a-token.atom").status_code == 404


def test_nobody_else_sees_the_feed_or_can_mark_it(followed, hub, hub_app, make_app, app):
    hub.touch(REVIEWS, title="Private", when=datetime.now(UTC))
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    create_user("bob@example.com")
    bob = hub_app.test_client()
    Auth(bob).login("bob@example.com")
    assert "Private" not in text(bob.get("/feed"))
    assert Auth(bob).post(f"/following/{REVIEWS}/seen", {}).status_code == 404
    counts = feed.new_commit_counts(db.session, followed.id)
    assert counts.get(dataset_id(REVIEWS)) == 1  # Bob marking nothing left Ann's count as it was


def test_the_refresh_command(followed, hub, runner):
    hub.touch(REVIEWS, title="From cron", when=datetime.now(UTC))
    result = runner.invoke(args=["follows", "refresh"])
    assert result.exit_code == 0, result.output
    assert "refresh: 1 of 1 datasets, 1 changes, 0 failed" in result.output


def test_the_refresh_command_reports_failures(followed, hub, runner):
    hub.fail("status", status=503)
    result = runner.invoke(args=["follows", "refresh"])
    assert result.exit_code == 1
    assert "1 failed" in result.output


def test_history_nobody_follows_any_more_is_forgotten(followed, hub, hub_app, client):
    from app.auth.accounts import delete_account
    from tests.conftest import PASSWORD

    hub.touch(REVIEWS, title="Kept while followed", when=datetime.now(UTC))
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    bob = create_user("bob@example.com")
    service.set_following(db.session, bob.id, dataset_id(REVIEWS), True)
    delete_account(db.session, followed, PASSWORD)  # Bob still follows: history stays
    assert db.session.scalar(select(func.count(DatasetChange.id))) == 1
    service.set_following(db.session, bob.id, dataset_id(REVIEWS), False)
    assert db.session.scalar(select(func.count(DatasetChange.id))) == 0
    assert db.session.scalar(select(func.count(DatasetSnapshot.id))) == 0


def test_a_rate_limited_refresh_stops_and_says_so(followed, hub, runner):
    hub.fail("status", status=429, retry_after=120)
    result = runner.invoke(args=["follows", "refresh"])
    assert result.exit_code == 1
    assert "stopped early" in result.output


def test_viewing_the_pages_refreshes_stale_followed_datasets(hub_app, hub, small_catalog, client):
    hub.add_dataset(REVIEWS, license="mit")
    user = create_user("ann@example.com")
    service.set_following(db.session, user.id, dataset_id(REVIEWS), True)
    Auth(client).login("ann@example.com")
    assert db.session.scalar(select(func.count(DatasetSnapshot.id))) == 0
    client.get("/following")
    assert db.session.scalar(select(func.count(DatasetSnapshot.id))) == 1
    client.get("/feed")  # fresh now: no second look
    assert db.session.scalar(select(func.count(DatasetSnapshot.id))) == 1


def test_a_new_follower_does_not_inherit_older_changes(followed, hub, hub_app):
    hub.touch(REVIEWS, title="Before Bob", when=datetime.now(UTC))
    refresh_followed(db.session, hub_app.extensions["hub_client"])
    bob = create_user("bob@example.com")
    service.set_following(db.session, bob.id, dataset_id(REVIEWS), True)
    assert feed.feed_page(db.session, bob.id).empty
    assert not feed.feed_page(db.session, followed.id).empty
