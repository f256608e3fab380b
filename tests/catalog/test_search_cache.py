"""Search keeps counts and pages per catalog version: what a person sees is never stale.

Totals, facet counts and result pages are kept in the process under the catalog version that
every catalog write bumps in the database (app.catalog.store). These tests change the catalog
between two identical searches and expect the second to show the change at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.catalog import store
from app.catalog.records import record_from_raw
from app.catalog.search import SearchQuery, all_facet_values, clear_search_cache, search
from app.catalog.store import bump_catalog_version, catalog_version, upsert_records
from app.config import normalise_database_url
from app.extensions import db
from app.models import Dataset, DatasetFacet, SyncState


@pytest.fixture(autouse=True)
def catalog(small_catalog):
    clear_search_cache()
    yield small_catalog
    clear_search_cache()


def find(**kwargs):
    return search(db.session, SearchQuery(**kwargs))


def counts(page, facet: str) -> dict[str, int]:
    return {v.value: v.count for v in page.facets[facet]}


def ids(page) -> list[str]:
    return [d.repo_id for d in page.datasets]


def write(*raws: dict, session: Session | None = None) -> None:
    session = session or db.session
    upsert_records(session, [record_from_raw(raw) for raw in raws])
    session.commit()


SPEECH = {
    "id": "newcomer/more-speech",
    "description": "Read speech in Welsh, for speech recognition.",
    "task_categories": ["automatic-speech-recognition"],
    "modalities": ["audio"],
    "language": ["cy"],
    "license": "mit",
    "downloads": 10**9,
}


def test_a_new_dataset_shows_in_the_counts_and_the_page_at_once():
    before = find(text="speech", sort="downloads")
    assert find(text="speech", sort="downloads").total == before.total  # a repeat: from the cache
    write(SPEECH)
    after = find(text="speech", sort="downloads")
    assert after.total == before.total + 1
    assert ids(after)[0] == "newcomer/more-speech"  # the most downloaded: first on the page
    assert counts(after, "license").get("mit", 0) == counts(before, "license").get("mit", 0) + 1
    assert counts(after, "language")["cy"] == 1
    whole = find()
    assert whole.total == 46
    assert counts(whole, "language")["cy"] == 1


def test_a_changed_dataset_moves_between_facet_values_at_once():
    query = {"text": "reviews", "filters": {"license": ("mit",)}}
    before = find(**query)
    assert ids(before) == ["acme/movie-reviews"]
    assert counts(before, "license") == {"mit": 1, "apache-2.0": 1}
    write(
        {
            "id": "acme/movie-reviews",
            "description": "Fifty thousand film reviews, now under Apache.",
            "license": "apache-2.0",
        }
    )
    after = find(**query)
    assert after.total == 0 and ids(after) == []
    assert counts(after, "license") == {"mit": 0, "apache-2.0": 2}
    values = all_facet_values(db.session, SearchQuery(**query), "license")
    assert {v.value: v.count for v in values} == {"apache-2.0": 2, "mit": 0}


def test_a_new_sort_order_shows_at_once():
    assert ids(find(sort="downloads"))[0] == "squad"
    write({"id": "acme/read-speech", "downloads": 10**9})
    assert ids(find(sort="downloads"))[0] == "acme/read-speech"


def test_a_write_from_another_connection_is_seen(database_url):
    """As from another gunicorn worker: nothing in this process hears of the write."""
    before = find(text="speech")
    engine = sa.create_engine(normalise_database_url(database_url))
    try:
        with Session(engine) as other:
            write(SPEECH, session=other)
    finally:
        engine.dispose()
    assert find(text="speech").total == before.total + 1


def test_a_rolled_back_write_leaves_no_trace():
    before = find(text="speech")
    upsert_records(db.session, [record_from_raw(SPEECH)])
    assert find(text="speech").total == before.total + 1  # this session sees its own write
    db.session.rollback()
    assert find(text="speech").total == before.total


def test_writes_that_change_nothing_keep_the_version():
    version = catalog_version(db.session)
    assert version is not None  # the fixture's import wrote it
    write({"id": "squad"})  # nothing new: an unknown field keeps what the mirror knows
    assert catalog_version(db.session) == version


def test_the_version_never_repeats_even_when_the_clock_does(monkeypatch):
    frozen = datetime(2030, 1, 1, tzinfo=UTC)

    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return frozen

    monkeypatch.setattr(store, "datetime", FrozenClock)
    versions = []
    for _ in range(3):
        bump_catalog_version(db.session)
        db.session.commit()
        versions.append(catalog_version(db.session))
    assert len(set(versions)) == 3 and versions == sorted(versions)


def test_without_a_version_nothing_is_kept():
    db.session.execute(sa.delete(SyncState))
    db.session.commit()
    assert find(text="speech").total == 3
    audio = counts(find(text="speech"), "modality")["audio"]
    # A write behind the app's back: with no version there is no cache to go stale.
    dataset_id = db.session.scalar(
        sa.select(Dataset.id).where(Dataset.repo_id == "acme/read-speech")
    )
    db.session.execute(sa.delete(DatasetFacet).where(DatasetFacet.dataset_id == dataset_id))
    db.session.commit()
    assert counts(find(text="speech"), "modality")["audio"] == audio - 1


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"text": "speech"},
        {"text": "reviews sentiment"},
        {"filters": {"modality": ("audio", "tabular")}},
        {"text": "weather", "filters": {"license": ("mit", "cc0-1.0"), "language": ("en",)}},
        {"filters": {"modality": ("text",), "task": ("question-answering",)}},
    ],
)
def test_facet_counts_match_a_count_of_the_results(query):
    """Each facet counts the datasets found under the query without that facet's own filter."""
    page = find(per_page=100, **query)
    for facet, values in page.facets.items():
        others = {f: v for f, v in query.get("filters", {}).items() if f != facet}
        found = find(text=query.get("text", ""), filters=others, per_page=100)
        rows = db.session.execute(
            sa.select(DatasetFacet.value, sa.func.count())
            .where(
                DatasetFacet.facet == facet,
                DatasetFacet.dataset_id.in_([d.id for d in found.datasets]),
            )
            .group_by(DatasetFacet.value)
        ).all()
        expected = dict(rows)
        for value in values:
            assert value.count == expected.get(value.value, 0), (facet, value)
        shown = {v.value for v in values}
        left_out = [n for value, n in expected.items() if value not in shown]
        if left_out:  # the sidebar shows the commonest values
            assert min(v.count for v in values if not v.selected) >= max(left_out)


def test_repeated_and_first_searches_agree():
    queries = [
        {"text": "speech", "sort": "relevance"},
        {"text": "data", "filters": {"license": ("mit",)}, "sort": "name", "per_page": 5},
        {"sort": "likes", "page": 2, "per_page": 10},
    ]
    first = [find(**q) for q in queries]
    again = [find(**q) for q in queries]
    for a, b in zip(first, again, strict=True):
        assert (ids(a), a.total, a.facets, a.more_facet_values) == (
            ids(b),
            b.total,
            b.facets,
            b.more_facet_values,
        )
