"""The Hub client over real HTTP against the fake Hub: answers, errors, retries, limits."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.hub.client import HubClient
from app.hub.errors import (
    HubGated,
    HubNotFound,
    HubRateLimited,
    HubUnavailable,
    InvalidRepoId,
)
from tests.hub.conftest import Clock, settings_for

LIST = r"^/api/datasets$"


def add_many(hub, count: int) -> list[str]:
    ids = [f"org/set-{n:03d}" for n in range(count)]
    for n, repo_id in enumerate(ids):
        hub.add_dataset(repo_id, downloads=n, task_categories=["text-classification"])
    return ids


def test_listing_follows_the_link_header_to_the_end(hub, client):
    ids = add_many(hub, 250)
    listed = [record.repo_id for record in client.list_datasets(page_size=100)]
    assert sorted(listed) == ids
    assert hub.count(LIST) == 3
    first = hub.requests[0]
    assert first.param("sort") == "lastModified" and first.param("limit") == "100"


def test_listing_stops_at_the_limit_without_fetching_more_pages(hub, client):
    add_many(hub, 250)
    assert len(list(client.list_datasets(page_size=100, limit=150))) == 150
    assert hub.count(LIST) == 2


def test_listed_records_carry_facets_from_the_hub_tags(hub, client):
    hub.add_dataset(
        "acme/reviews", downloads=1200, likes=7, task_categories=["text-classification"],
        language=["en"], license="mit",
    )  # fmt: skip
    (record,) = client.list_datasets()
    assert (record.repo_id, record.downloads, record.likes) == ("acme/reviews", 1200, 7)
    assert record.task_categories == ["text-classification"]
    assert record.languages == ["en"] and record.license == "mit"
    assert record.last_modified is not None


def test_dataset_details(hub, client):
    hub.add_dataset(
        "acme/reviews",
        gated="manual",
        sizes={"num_examples": 300, "dataset_size": 4000},
    )
    detail = client.dataset("acme/reviews")
    assert detail.record.repo_id == "acme/reviews"
    assert detail.gated == "manual"
    assert detail.sha and not detail.disabled


def test_unknown_dataset_is_not_found_anonymous_or_not(hub, client):
    with pytest.raises(HubNotFound):
        client.dataset("nobody/nothing")
    assert hub.requests[-1].status == 401
    authed = HubClient(settings_for(hub, token="hf_secret_token"))
    with pytest.raises(HubNotFound):
        authed.dataset("nobody/nothing")
    assert hub.requests[-1].status == 404
    assert hub.requests[-1].headers.get("Authorization") == "Bearer hf_secret_token"


def test_a_definite_answer_is_not_retried(hub, client):
    with pytest.raises(HubNotFound):
        client.dataset("nobody/nothing")
    assert hub.count(r"^/api/datasets/") == 1


def test_the_card_of_a_gated_dataset_is_gated(hub, client):
    hub.add_dataset("acme/secret", gated="manual")
    with pytest.raises(HubGated):
        client.card("acme/secret")


def test_card_text_and_no_card(hub, client):
    hub.add_dataset("acme/reviews", card="---\nlicense: mit\n---\n# Reviews\nHello.")
    assert "# Reviews" in client.card("acme/reviews")


@pytest.mark.parametrize("repo_id", ["../etc/passwd", "a/b/c", "with space", "x" * 300, ""])
def test_invalid_ids_never_reach_the_hub(hub, client, repo_id):
    with pytest.raises(InvalidRepoId):
        client.dataset(repo_id)
    with pytest.raises(InvalidRepoId):
        client.commits(repo_id)
    assert hub.count() == 0


def test_server_errors_are_retried_then_succeed(hub, client):
    add_many(hub, 3)
    hub.fail("status", status=503, times=2, path=LIST)
    assert len(list(client.list_datasets())) == 3
    assert hub.count(LIST) == 3


def test_persistent_server_errors_give_up_within_the_budget(hub, client):
    hub.fail("status", status=500, path=LIST)
    started = time.monotonic()
    with pytest.raises(HubUnavailable):
        list(client.list_datasets())
    assert hub.count(LIST) == 3
    assert time.monotonic() - started < 3 * 3.0  # well inside the budget, with room for load


def test_a_slow_hub_times_out_within_the_budget(hub):
    hub.add_dataset("acme/reviews")
    client = HubClient(settings_for(hub, read_timeout=0.3, budget=1.0))
    hub.fail("timeout", path=r"^/api/datasets/")
    started = time.monotonic()
    with pytest.raises(HubUnavailable):
        client.dataset("acme/reviews")
    assert time.monotonic() - started < 3 * 1.0  # the 30 s hold was not waited out


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("malformed", {}),
        ("truncated", {}),
        ("schema", {"variant": "wrap"}),
        ("schema", {"variant": "null"}),
    ],
)
def test_garbage_answers_are_unavailable_not_crashes(hub, client, kind, options):
    hub.add_dataset("acme/reviews")
    hub.fail(kind, path=r"^/api/datasets", **options)
    with pytest.raises(HubUnavailable):
        client.dataset("acme/reviews")
    with pytest.raises(HubUnavailable):
        list(client.list_datasets())


def test_items_without_ids_are_reported_not_fatal(hub, client):
    add_many(hub, 5)
    hub.fail("schema", variant="drop_ids", path=LIST, times=1)
    pages = list(client.dataset_pages())
    assert sum(len(page.records) for page in pages) == 0
    assert sum(len(page.bad) for page in pages) == 5


def test_a_short_retry_after_is_waited_out(hub, client):
    add_many(hub, 2)
    hub.fail("status", status=429, retry_after=1, times=1, path=LIST)
    started = time.monotonic()
    assert len(list(client.list_datasets())) == 2
    assert time.monotonic() - started >= 0.9
    assert hub.count(LIST) == 2


def test_a_long_rate_limit_is_not_slept_and_pauses_all_calls(hub):
    clock = Clock()
    client = HubClient(settings_for(hub), clock=clock)
    hub.add_dataset("acme/reviews")
    hub.fail("status", status=429, retry_after=120, times=1, path=r"^/api/datasets/")
    with pytest.raises(HubRateLimited) as caught:
        client.dataset("acme/reviews")
    assert caught.value.retry_after == 120
    calls = hub.count()
    clock.now += 119
    with pytest.raises(HubRateLimited):
        client.dataset("acme/reviews")
    assert hub.count() == calls  # no call while the Hub asked us to wait
    clock.now += 2
    assert client.dataset("acme/reviews").record.repo_id == "acme/reviews"


def test_the_ratelimit_header_reset_is_honoured_without_retry_after(hub):
    clock = Clock()
    client = HubClient(settings_for(hub), clock=clock)
    hub.add_dataset("acme/reviews")
    hub.fail(
        "status", status=429, times=1, path=r"^/api/datasets/",
        headers={"RateLimit": '"api";r=0;t=45', "Retry-After": ""},
    )  # fmt: skip
    with pytest.raises(HubRateLimited) as caught:
        client.dataset("acme/reviews")
    assert caught.value.retry_after == 45


def test_the_breaker_opens_after_repeated_failures_and_probes_later(hub):
    clock = Clock()
    client = HubClient(settings_for(hub, attempts=1), clock=clock)
    hub.add_dataset("acme/reviews")
    hub.fail("status", status=500)
    for _ in range(5):
        with pytest.raises(HubUnavailable):
            client.dataset("acme/reviews")
    assert hub.count() == 5
    with pytest.raises(HubUnavailable, match="not asking again"):
        client.dataset("acme/reviews")
    assert hub.count() == 5  # the sixth call failed fast
    clock.now += 31
    hub.heal()
    assert client.dataset("acme/reviews")  # exactly one probe, which succeeds
    assert hub.count() == 6
    assert client.dataset("acme/reviews")
    assert hub.count() == 7


def test_a_failed_probe_reopens_the_breaker(hub):
    clock = Clock()
    client = HubClient(settings_for(hub, attempts=1), clock=clock)
    hub.add_dataset("acme/reviews")
    hub.fail("status", status=503)
    for _ in range(5):
        with pytest.raises(HubUnavailable):
            client.dataset("acme/reviews")
    clock.now += 31
    with pytest.raises(HubUnavailable):
        client.dataset("acme/reviews")
    assert hub.count() == 6
    with pytest.raises(HubUnavailable, match="not asking again"):
        client.dataset("acme/reviews")
    assert hub.count() == 6


def test_commit_history_pages(hub, client):
    newest = datetime(2024, 3, 1, tzinfo=UTC)
    history = [
        {"title": f"Update {45 - n}", "date": (newest - timedelta(days=n)).isoformat()}
        for n in range(45)
    ]
    hub.add_dataset("acme/reviews", commits=history)
    first = client.commits("acme/reviews", page=0, per_page=20)
    assert len(first.commits) == 20 and first.total == 45 and first.has_next
    last = client.commits("acme/reviews", page=2, per_page=20)
    assert len(last.commits) == 5 and not last.has_next
    dates = [c.date for c in first.commits]
    assert dates == sorted(dates, reverse=True)
    assert first.commits[0].sha and first.commits[0].title


def test_viewer_sizes(hub, client):
    hub.add_dataset("acme/reviews", sizes={"num_examples": 300, "dataset_size": 4000})
    size = client.viewer_size("acme/reviews")
    assert size is not None and size.splits
    assert client.viewer_size("nobody/nothing") is None


def test_the_token_is_never_logged(hub, caplog):
    client = HubClient(settings_for(hub, token="hf_secret_token", attempts=2))
    hub.fail("status", status=500)
    with caplog.at_level(logging.DEBUG), pytest.raises(HubUnavailable):
        client.dataset("acme/reviews")
    assert "hf_secret_token" not in caplog.text
    assert "hf_secret_token" not in repr(client.settings)


def test_viewer_split_sizes_are_their_parquet_files(hub, client):
    hub.add_examples()
    size = client.viewer_size("ylecun/mnist")
    assert [(s.split, s.num_rows, s.num_bytes) for s in size.splits] == [
        ("train", 60000, 15561616),
        ("test", 10000, 2595890),
    ]
    assert (size.num_rows, size.num_bytes, size.original_bytes) == (70000, 18157506, 11594722)
    assert not size.partial


def test_viewer_info_lists_columns_and_splits(hub, client):
    hub.add_examples()
    (config,) = client.viewer_info("ylecun/mnist")
    assert config.name == "mnist"
    assert config.columns == [("image", "Image"), ("label", "class label (10 classes)")]
    assert [(s.split, s.num_rows) for s in config.splits] == [("train", 60000), ("test", 10000)]
    assert client.viewer_info("nobody/nothing") is None
