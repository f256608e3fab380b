"""The dataset page and its commit history, with the fake Hub answering or failing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import HubCacheEntry

HX = {"HX-Request": "true"}
CARD = (
    "---\nlicense: mit\npretty_name: Reviews\n---\n"
    "# Reviews\n\nFifty thousand reviews.\n\n<script>alert(1)</script>\n"
)


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def reviews(hub, small_catalog):
    return hub.add_dataset(
        "acme/movie-reviews",
        card=CARD,
        sizes={"num_examples": 50000, "dataset_size": 1_000_000},
        likes=12,
        downloads=900000,
    )


def test_the_page_shows_hub_facts_card_sizes_and_a_lazy_history(
    hub_app, reviews, client, rendered_templates
):
    response = client.get("/datasets/acme/movie-reviews")
    assert response.status_code == 200
    assert rendered_templates == ["datasets/show.html"]
    body = text(response)
    assert "<h1>acme/movie-reviews</h1>" in body
    assert 'href="' + hub_app.config["HF_ENDPOINT"] + '/datasets/acme/movie-reviews"' in body
    assert '<div class="card-body" hx-disable><h3>Reviews</h3>' in body
    assert "<script>alert" not in body
    assert "Card metadata" in body and "<dt>license</dt><dd>mit</dd>" in body
    assert 'hx-get="/datasets/acme/movie-reviews/commits" hx-trigger="load"' in body
    assert "The Hub is unreachable" not in body
    assert re.search(r"<dt>Likes</dt><dd>12</dd>", body)  # the Hub's fresh count, now mirrored


def test_a_second_view_within_the_ttl_asks_the_hub_nothing(hub_app, reviews, client, hub):
    client.get("/datasets/acme/movie-reviews")
    hub.clear_log()
    assert client.get("/datasets/acme/movie-reviews").status_code == 200
    assert hub.count() == 0


def expire_cache() -> None:
    for entry in db.session.query(HubCacheEntry):
        entry.fetched_at = datetime.now(UTC) - timedelta(days=2)
    db.session.commit()


def test_old_data_is_refreshed_on_view(hub_app, reviews, client, hub):
    client.get("/datasets/acme/movie-reviews")
    expire_cache()
    hub.update("acme/movie-reviews", likes=40)
    hub.clear_log()
    body = text(client.get("/datasets/acme/movie-reviews"))
    assert hub.count() >= 1
    assert re.search(r"<dt>Likes</dt><dd>40</dd>", body)


def test_with_the_hub_down_old_data_is_shown_with_its_time(hub_app, reviews, client, hub):
    client.get("/datasets/acme/movie-reviews")
    expire_cache()
    hub.fail("status", status=503)
    response = client.get("/datasets/acme/movie-reviews")
    assert response.status_code == 200
    body = text(response)
    assert "The Hub is unreachable: showing data from" in body
    assert "2 days ago" in body
    assert '<div class="card-body" hx-disable><h3>Reviews</h3>' in body


def test_with_the_hub_down_and_nothing_cached_the_page_still_shows_the_catalog(
    hub_app, reviews, client, hub
):
    hub.fail("timeout", seconds=5)
    response = client.get("/datasets/acme/movie-reviews")
    assert response.status_code == 200
    body = text(response)
    assert "The Hub is unreachable, so some parts of this page are missing" in body
    assert "The card could not be loaded from the Hub just now." in body
    history = client.get("/datasets/acme/movie-reviews/commits", headers=HX)
    assert history.status_code == 503
    assert "Try again" in text(history) and "<html" not in text(history)


def test_a_dataset_not_yet_in_the_catalog_is_fetched_and_kept(hub_app, hub, client):
    hub.add_dataset(
        "newcomer/fresh", card="# Fresh\n\nNew data.", task_categories=["summarization"]
    )
    response = client.get("/datasets/newcomer/fresh")
    assert response.status_code == 200
    assert "Summarization" in text(response)
    assert client.get("/datasets?q=newcomer").get_data(as_text=True).count("newcomer/fresh") >= 1


def test_an_unknown_dataset_is_a_404_with_suggestions(hub_app, small_catalog, client):
    response = client.get("/datasets/someone/movie")
    assert response.status_code == 404
    body = text(response)
    assert "Dataset not found" in body
    assert 'href="/datasets/acme/movie-reviews"' in body  # a suggestion


def test_a_gated_dataset_says_what_is_withheld_and_why(hub_app, hub, small_catalog, client):
    hub.add_dataset("acme/movie-reviews", gated="manual", card=CARD)
    body = text(client.get("/datasets/acme/movie-reviews"))
    assert "This dataset is gated" in body
    assert "only shown to people who accepted its conditions" in body


def test_a_dataset_gone_from_the_hub_keeps_its_catalog_facts(hub_app, small_catalog, client):
    response = client.get("/datasets/acme/movie-reviews")  # not on the fake Hub at all
    assert response.status_code == 200
    assert "The Hub no longer shows this dataset publicly" in text(response)


def test_the_commit_history_fragment_and_page(hub_app, reviews, client, rendered_templates):
    response = client.get("/datasets/acme/movie-reviews/commits", headers=HX)
    assert response.status_code == 200
    assert rendered_templates == ["datasets/_commits.html"]
    body = text(response)
    assert '<ol class="commit-list" start="1">' in body
    assert re.search(r'<time datetime="[^"]+"', body)
    assert re.search(r'/datasets/acme/movie-reviews/commit/[0-9a-f]{40}"', body)
    rendered_templates.clear()
    response = client.get("/datasets/acme/movie-reviews/commits?page=abc")
    assert response.status_code == 200 and rendered_templates == ["datasets/commits.html"]
    assert "Commit history of acme/movie-reviews" in text(response)


def test_commit_pages_link_to_each_other(hub_app, hub, small_catalog, client):
    history = [
        {
            "title": f"Change {n}",
            "date": (datetime(2024, 5, 1, tzinfo=UTC) - timedelta(days=n)).isoformat(),
        }
        for n in range(45)
    ]
    hub.add_dataset("acme/movie-reviews", commits=history)
    body = text(client.get("/datasets/acme/movie-reviews/commits?page=2"))
    assert '<ol class="commit-list" start="21">' in body
    assert 'href="/datasets/acme/movie-reviews/commits?page=1"' in body and 'rel="prev"' in body
    assert 'href="/datasets/acme/movie-reviews/commits?page=3"' in body and 'rel="next"' in body
    assert "Change 20" in body


def test_garbage_from_the_hub_is_never_a_500(hub_app, reviews, client, hub):
    for kind, options in (("malformed", {}), ("truncated", {}), ("schema", {"variant": "types"})):
        hub.heal()
        hub.fail(kind, **options)
        db.session.query(HubCacheEntry).delete()
        db.session.commit()
        assert client.get("/datasets/acme/movie-reviews").status_code == 200
        assert client.get("/datasets/acme/movie-reviews/commits").status_code in (200, 503)


def test_a_dataset_without_a_description_gets_one_from_its_card(hub_app, hub, client):
    card = (
        "# Dataset Card for Fresh\n\n## Dataset Summary\n\n"
        "Fresh pairs questions with answers taken from cooking forums.\n"
    )
    hub.add_dataset("newcomer/fresh", card=card, description="Dataset Card for Fresh")
    body = text(client.get("/datasets/newcomer/fresh"))
    assert "Fresh pairs questions with answers taken from cooking forums." in body


def test_columns_come_from_the_viewer(hub_app, hub, client):
    hub.add_examples()
    body = text(client.get("/datasets/ylecun/mnist"))
    assert '<h2 id="columns-heading">Columns</h2>' in body
    assert '<code>label</code> <span class="hint">class label (10 classes)</span>' in body
    assert "60,000" in body  # the train split's rows
