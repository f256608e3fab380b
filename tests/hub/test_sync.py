"""Catalog sync from the (fake) Hub: incremental, resumable, tolerant, and flat in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.hub.client import HubClient
from app.hub.errors import HubUnavailable
from app.hub.sync import sync_catalog, sync_state
from app.models import Dataset
from tests.conftest import shared_dir
from tests.hub.conftest import settings_for

LIST = r"^/api/datasets$"
START = datetime(2024, 1, 1, tzinfo=UTC)


def add_datasets(hub, count: int, start: datetime = START) -> list[str]:
    ids = []
    for n in range(count):
        repo_id = f"org/set-{n:03d}"
        hub.add_dataset(repo_id, lastModified=start + timedelta(hours=n), downloads=n)
        ids.append(repo_id)
    return ids


def stored() -> int:
    return db.session.scalar(select(func.count(Dataset.id)))


def test_a_first_sync_takes_everything(app, hub, client):
    add_datasets(hub, 250)
    summary = sync_catalog(db.session, client, page_size=100)
    assert (summary.counts.inserted, summary.complete) == (250, True)
    assert stored() == 250
    synced_until = sync_state(db.session).synced_until
    assert synced_until.replace(tzinfo=UTC) == START + timedelta(hours=249)  # SQLite: naive UTC


def test_the_next_sync_only_fetches_what_changed(app, hub, client):
    add_datasets(hub, 250)
    sync_catalog(db.session, client, page_size=100)
    hub.clear_log()
    hub.touch("org/set-010")  # a push: newer lastModified
    hub.add_dataset("org/brand-new", lastModified=datetime.now(UTC), downloads=5)
    summary = sync_catalog(db.session, client, page_size=100)
    assert (summary.counts.inserted, summary.counts.updated) == (1, 1)
    assert hub.count(LIST) == 1  # stopped at the first page: the rest is older
    assert stored() == 251


def test_an_unchanged_hub_changes_nothing(app, hub, client):
    add_datasets(hub, 30)
    sync_catalog(db.session, client)
    summary = sync_catalog(db.session, client, full=True)
    assert (summary.counts.inserted, summary.counts.updated, summary.counts.unchanged) == (0, 0, 30)


def test_an_interrupted_sync_resumes_where_it_stopped(app, hub, client):
    add_datasets(hub, 300)
    hub.fail("status", status=500, path=LIST, times=None)
    hub.heal()
    # The third page fails for good: two pages are in, and the state says where to go on.
    pages = iter(range(10))

    def fail_on_third_page(done):
        if done >= 200 and next(pages) >= 0:
            hub.fail("status", status=500, path=LIST)

    with pytest.raises(HubUnavailable):
        sync_catalog(db.session, client, page_size=100, on_progress=fail_on_third_page)
    assert stored() == 200
    state = sync_state(db.session)
    assert state.resume_url and state.synced_until is None
    hub.heal()
    client.reset()
    hub.clear_log()
    summary = sync_catalog(db.session, client, page_size=100)
    assert summary.resumed and summary.complete
    assert summary.counts.inserted == 100 and stored() == 300
    assert hub.count(LIST) == 1  # only the missing page
    assert sync_state(db.session).resume_url is None


def test_limit_stops_early_and_the_next_run_continues(app, hub, client):
    add_datasets(hub, 250)
    first = sync_catalog(db.session, client, page_size=100, limit=150)
    assert first.seen == 150 and not first.complete and stored() == 150
    second = sync_catalog(db.session, client, page_size=100)
    assert second.complete and stored() == 250


def test_bad_records_are_counted_as_failed_and_the_rest_stored(app, hub, client):
    add_datasets(hub, 20)
    hub.fail("schema", variant="drop_ids", path=LIST, times=1)
    summary = sync_catalog(db.session, client)
    assert len(summary.failed) == 20 and summary.counts.inserted == 0
    hub.heal()
    assert sync_catalog(db.session, client, full=True).counts.inserted == 20


def test_since_overrides_the_watermark(app, hub, client):
    add_datasets(hub, 50)
    summary = sync_catalog(db.session, client, since=START + timedelta(hours=39, minutes=30))
    assert summary.counts.inserted == 10


def test_sync_keeps_our_descriptions_when_the_hub_has_only_a_card_title(app, hub, client):
    from app.catalog.importer import load_starter_catalog

    load_starter_catalog(db.session)
    ours = db.session.scalar(select(Dataset).where(Dataset.repo_id == "rajpurkar/squad"))
    description = ours.description
    hub.add_dataset("rajpurkar/squad", description="Dataset Card for SQuAD", downloads=99, likes=5)
    sync_catalog(db.session, client)
    db.session.refresh(ours)
    assert (ours.description, ours.downloads, ours.likes) == (description, 99, 5)


def test_the_cli_prints_progress_and_a_summary(runner, hub_app, hub):
    add_datasets(hub, 30)
    result = runner.invoke(args=["catalog", "sync", "--limit", "20"])
    assert result.exit_code == 0, result.output
    assert "20 datasets" in result.output
    assert "sync: 20 added, 0 updated, 0 unchanged, 0 failed (stopped early" in result.output
    result = runner.invoke(args=["catalog", "sync"])
    # The first run stopped inside a page, so that page is read again: 20 unchanged, 10 new.
    assert "sync: 10 added, 0 updated, 20 unchanged, 0 failed (complete)" in result.output


def test_the_cli_says_calmly_when_the_hub_is_down(runner, hub_app, hub):
    hub.fail("status", status=503)
    result = runner.invoke(args=["catalog", "sync"])
    assert result.exit_code == 1
    assert "The Hub could not be reached" in result.output
    assert "Traceback" not in result.output


def test_the_real_catalog_syncs_through_the_fake_hub(app, tmp_path):
    from tests.fakehub import FakeHub

    folder = shared_dir() / "hub" / "catalog"
    with FakeHub.from_catalog([folder / "catalog-00.jsonl", folder / "catalog-01.jsonl"]) as hub:
        client = HubClient(settings_for(hub, read_timeout=10, budget=20))
        summary = sync_catalog(db.session, client, page_size=500)
    assert summary.complete and not summary.failed
    assert stored() == 7433
    squad = db.session.scalar(select(Dataset).where(Dataset.repo_id == "squad"))
    assert squad is not None and squad.license


def test_memory_stays_flat_however_many_datasets_stream(app, hub, client):
    import tracemalloc

    add_datasets(hub, 1200)
    tracemalloc.start()
    peaks = []

    def sample(done):
        peaks.append(tracemalloc.get_traced_memory()[0])

    sync_catalog(db.session, client, page_size=100, on_progress=sample)
    tracemalloc.stop()
    # Memory in use after page 3 and after page 12 is about the same: nothing accumulates.
    assert peaks[-1] < peaks[2] * 1.5 + 2_000_000, json.dumps(peaks)


def test_sync_on_start_fills_the_mirror_in_the_background(app, hub, make_app, database_url):
    from app.config import TestConfig

    add_datasets(hub, 12)
    config = TestConfig(database_url)
    config.HF_ENDPOINT = config.HF_DATASETS_SERVER = hub.url
    config.SYNC_ON_START = True
    started = make_app(config)
    started.extensions["sync_thread"].join(timeout=30)
    assert stored() == 12


def test_sync_on_start_offline_says_so_once_and_serves_the_catalog(
    app, small_catalog, make_app, database_url, caplog
):
    from app.config import TestConfig

    config = TestConfig(database_url)  # the Hub address is a dead port
    config.SYNC_ON_START = True
    with caplog.at_level("WARNING"):
        started = make_app(config)
        started.extensions["sync_thread"].join(timeout=30)
    messages = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(messages) == 1 and "serving the catalog already in the database" in messages[0]
    assert "Traceback" not in caplog.text
    assert started.test_client().get("/datasets").status_code == 200
