"""The worker's index upkeep: the index read as a worker starts and patched as soon as a catalog
write commits (on PostgreSQL from any process, on SQLite from its own), so searches do not wait
for it."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.catalog import catalog_index, index_upkeep
from app.catalog.records import record_from_raw
from app.catalog.search import SearchQuery, search
from app.catalog.store import CATALOG_VERSION, catalog_version, upsert_records
from app.extensions import db
from app.models import Dataset, SyncState
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.usefixtures("fresh_index")


@pytest.fixture
def upkeep(app):
    started: list[index_upkeep.IndexUpkeep] = []

    def start() -> index_upkeep.IndexUpkeep:
        thread = index_upkeep.keep_index_current(app)
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()
        assert not thread.is_alive()


def kept_copy() -> catalog_index.CatalogIndex | None:
    return catalog_index._newest.get(db.engine.url.render_as_string())


def is_current() -> bool:
    copy = kept_copy()
    db.session.commit()  # a fresh snapshot for the version, on PostgreSQL
    return copy is not None and copy.version == catalog_version(db.session)


def write(repo_id: str, description: str) -> None:
    upsert_records(db.session, [record_from_raw({"id": repo_id, "description": description})])
    db.session.commit()


def postgresql_only() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no notifications (nor a connection to lose)")


def started(thread: index_upkeep.IndexUpkeep) -> index_upkeep.IndexUpkeep:
    """The thread once it has read the index and, on PostgreSQL, listens."""
    wait_for(is_current, timeout=60)
    if db.engine.dialect.name == "postgresql":
        wait_for(thread.listening.is_set, timeout=15)
    return thread


def test_a_new_worker_reads_the_index_before_its_first_search(upkeep):
    upkeep()
    wait_for(is_current, timeout=60)
    copy = kept_copy()
    wait_for(lambda: copy._present is not None, timeout=15)
    # Every order and the exact names worked out before the first search wants them.
    assert set(copy._orders) == {"downloads", "likes", "trending", "updated", "created", "name"}
    assert copy.exact_name("squad")
    for sort in ("relevance", "likes", "name"):
        search(db.session, SearchQuery(text="speech", sort=sort))
    assert kept_copy() is copy  # the first searches found it ready


def test_a_committed_write_is_patched_in_before_any_search(upkeep):
    started(upkeep())
    first = kept_copy()
    write("newcomer/okapi-counts", "Okapi sightings along rivers.")
    wait_for(is_current, timeout=15)  # no search was made meanwhile
    patched = kept_copy()
    assert patched is not first and patched.patched_in
    found = search(db.session, SearchQuery(text="okapi"))
    assert [d.repo_id for d in found.datasets] == ["newcomer/okapi-counts"]
    assert kept_copy() is patched  # the search used the copy the upkeep made


def test_an_uncommitted_write_is_not_heard_of(upkeep):
    started(upkeep())
    first = kept_copy()
    upsert_records(db.session, [record_from_raw({"id": "draft/set", "description": "Draft."})])
    db.session.rollback()
    write("later/set", "Written after the rollback.")
    wait_for(is_current, timeout=15)
    assert kept_copy() is not first
    assert search(db.session, SearchQuery(text="draft")).total == 0


def test_a_lost_connection_is_reopened_and_writes_made_meanwhile_are_caught(upkeep, caplog):
    postgresql_only()
    caplog.set_level(logging.WARNING, logger=index_upkeep.__name__)
    thread = upkeep()
    wait_for(thread.listening.is_set, timeout=60)
    db.session.execute(
        sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"
        ),
        {"name": index_upkeep.APPLICATION_NAME},
    )
    db.session.commit()
    wait_for(lambda: not thread.listening.is_set(), timeout=15)
    write("meanwhile/set", "Written while nobody listened.")  # no one hears this NOTIFY
    wait_for(thread.listening.is_set, timeout=15)  # reconnected after a second
    wait_for(is_current, timeout=15)  # and caught up on reconnecting
    assert "searches patch the index themselves" in caplog.text
    write("afterwards/set", "Heard again.")
    wait_for(is_current, timeout=15)
    assert search(db.session, SearchQuery(text="heard")).total == 1


def test_a_write_made_without_the_app_is_caught_after_a_quiet_spell(upkeep, monkeypatch):
    monkeypatch.setattr(index_upkeep, "QUIET_CHECK", 2.0)
    started(upkeep())
    first = kept_copy()
    # A write by hand (another process, plain SQL): a new version and a stamped row, but no
    # NOTIFY and no commit in this process's sessions to wake the thread.
    version = catalog_version(db.session) + timedelta(seconds=1)
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(SyncState)
            .where(SyncState.name == CATALOG_VERSION)
            .values(finished_at=version)
        )
        connection.execute(
            sa.update(Dataset)
            .where(Dataset.repo_id == "squad")
            .values(description="Wombat burrows.", changed_at=version)
        )
    wait_for(is_current, timeout=15)
    assert kept_copy() is not first
    assert [d.repo_id for d in search(db.session, SearchQuery(text="wombat")).datasets] == ["squad"]
