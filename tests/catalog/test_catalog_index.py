"""The in-memory search index: brought up to date by the rows a write changed, never stale.

Each process keeps one copy of the catalog for search (app.catalog.catalog_index) and, after a
catalog write, reads only the rows stamped with a newer version. These tests make writes of
every kind and expect the patched copy to answer exactly as a copy read whole from the database.
"""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from app.catalog import catalog_index
from app.catalog.records import record_from_raw
from app.catalog.search import SearchQuery, clear_search_cache, search
from app.catalog.store import bump_catalog_version, catalog_version, mark_changed, upsert_records
from app.catalog.textquery import WORD_RE, parse_text_query
from app.extensions import db
from app.models import Dataset, DatasetFacet
from tests.catalog.matching import asked_sql, catalog_words, matching_agrees_with_sql

QUERIES = [
    {},
    {"text": "speech", "sort": "relevance"},
    {"text": "reviews", "sort": "relevance"},
    {"text": "squad", "sort": "relevance"},  # an exact name first
    {"text": "data", "sort": "relevance", "per_page": 50},
    {"text": "dat", "sort": "relevance", "per_page": 50},
    {"text": '"speech recognition"', "sort": "relevance"},
    {"filters": {"modality": ("audio", "text")}, "sort": "likes"},
    {"filters": {"license": ("mit",)}, "sort": "name", "per_page": 50},
    {"text": "images", "sort": "updated"},
    {"sort": "created", "page": 2, "per_page": 20},
    {"sort": "trending", "per_page": 50},
]


pytestmark = pytest.mark.usefixtures("fresh_index")


def answers() -> list[tuple]:
    """What a person sees for each query: the ids in order, the total and every facet count."""
    clear_search_cache()
    seen = []
    for query in QUERIES:
        page = search(db.session, SearchQuery(**query))
        facets = {f: [(v.value, v.count) for v in values] for f, values in page.facets.items()}
        seen.append(([d.repo_id for d in page.datasets], page.total, facets))
    return seen


def answers_of_a_whole_read() -> list[tuple]:
    catalog_index.clear()
    return answers()


def kept_copy() -> catalog_index.CatalogIndex:
    return catalog_index._newest[db.engine.url.render_as_string()]


def orders_agree_with_a_whole_read() -> None:
    """Every order the patched copy carried over is the order a whole read sorts afresh, and
    so are the exact names it carried over."""
    patched = kept_copy()
    whole = catalog_index.build(db.session, patched.version)
    carried = dict(patched._orders)
    assert set(carried) >= {"downloads", "likes", "name", "created", "trending", "updated"}
    for sort, order in carried.items():
        assert np.array_equal(order, whole.order(sort)), sort
    assert patched._by_name is not None  # carried over, not left to be read again
    whole.exact_name("")
    assert {key: sorted(held) for key, held in patched._by_name.items()} == whole._by_name


def write(*raws: dict) -> None:
    upsert_records(db.session, [record_from_raw(raw) for raw in raws])
    db.session.commit()


def test_a_write_is_patched_in_and_answers_as_a_whole_read():
    answers()
    first = kept_copy()
    write(
        {  # new
            "id": "newcomer/speech-data",
            "description": "Speech recordings and data for recognition in Welsh.",
            "task_categories": ["automatic-speech-recognition"],
            "modalities": ["audio"],
            "language": ["cy"],
            "license": "mit",
            "downloads": 5_000_000,
        },
        # changed: new licence, new words, new popularity
        {"id": "acme/movie-reviews", "license": "cc0-1.0", "downloads": 1, "likes": 999},
        {"id": "squad", "description": "Questions about speech and data, answered from text."},
    )
    search(db.session, SearchQuery(text="speech"))  # the copy patched, its orders carried over
    orders_agree_with_a_whole_read()
    patched = answers()
    copy = kept_copy()
    assert copy is not first and copy.version == catalog_version(db.session)
    assert copy.words.base is first.words.base  # patched in: the base was not read again
    assert patched == answers_of_a_whole_read()
    speech = search(db.session, SearchQuery(text="speech data", sort="relevance"))
    assert "newcomer/speech-data" in [d.repo_id for d in speech.datasets]
    assert "squad" in [d.repo_id for d in speech.datasets]


def test_a_renamed_dataset_is_found_and_sorted_by_its_new_name():
    answers()
    search(db.session, SearchQuery(sort="name", per_page=100))  # the name order, then a rename
    write({"id": "aaa/squad-renamed", "aliases": ["squad"]})
    search(db.session, SearchQuery(text="squad"))
    orders_agree_with_a_whole_read()
    by_name = search(db.session, SearchQuery(sort="name", per_page=100))
    assert by_name.datasets[0].repo_id == "aaa/squad-renamed"
    assert kept_copy().patched_in
    assert answers() == answers_of_a_whole_read()


def test_many_small_writes_fold_into_the_base_and_still_agree(monkeypatch):
    monkeypatch.setattr(catalog_index, "FOLD_ENTRIES", 100)  # a small catalog's share
    answers()
    first = kept_copy()
    for number in range(40):
        write(
            {
                "id": f"many/set-{number}",
                "description": f"Tabular data about weather station {number} readings.",
                "modalities": ["tabular"],
                "downloads": number,
            }
        )
        search(db.session, SearchQuery(text="weather"))  # each write patched in on its own
        orders_agree_with_a_whole_read()
    assert kept_copy().words.base is not first.words.base  # folded at least once
    assert answers() == answers_of_a_whole_read()


def test_a_row_deleted_behind_the_app_is_noticed():
    answers()
    gone = db.session.scalar(sa.select(Dataset).where(Dataset.repo_id == "acme/read-speech"))
    db.session.execute(sa.delete(DatasetFacet).where(DatasetFacet.dataset_id == gone.id))
    db.session.execute(sa.delete(Dataset).where(Dataset.id == gone.id))
    bump_catalog_version(db.session)
    db.session.commit()
    found = search(db.session, SearchQuery(text="speech"))
    assert "acme/read-speech" not in [d.repo_id for d in found.datasets]
    assert answers() == answers_of_a_whole_read()


def test_a_change_by_hand_with_mark_changed_is_seen():
    answers()
    dataset = db.session.scalar(sa.select(Dataset).where(Dataset.repo_id == "acme/movie-reviews"))
    dataset.description = "Zebra migration counts."
    db.session.flush()
    mark_changed(db.session, [dataset.id])
    db.session.commit()
    found = search(db.session, SearchQuery(text="zebra"))
    assert [d.repo_id for d in found.datasets] == ["acme/movie-reviews"]
    assert answers() == answers_of_a_whole_read()


def test_relevance_ranks_the_name_above_a_passing_mention_and_popularity_breaks_near_ties():
    write(
        {"id": "x/rivers", "description": "Rivers of the world.", "downloads": 10},
        {"id": "y/lakes", "description": "Lakes, some fed by rivers.", "downloads": 10},
        {"id": "z/lakes-too", "description": "Lakes, some fed by rivers.", "downloads": 10**7},
    )
    found = [
        d.repo_id for d in search(db.session, SearchQuery(text="rivers", sort="relevance")).datasets
    ]
    assert found[0] == "x/rivers"  # in the name: weighted ten times the description
    assert found.index("z/lakes-too") < found.index("y/lakes")  # same text, more downloads


def test_every_word_the_database_matches_counts_in_the_ranking():
    """Each word of a dataset's text, searched for, finds the dataset in SQL and counts for it
    in the ranking's word frequencies: the two split and stem words alike."""
    index = catalog_index.for_version(
        db.session, db.engine.url.render_as_string(), catalog_version(db.session)
    )
    rows = db.session.execute(
        sa.select(Dataset.id, Dataset.repo_id, Dataset.pretty_name, Dataset.keywords,
                  Dataset.description)
    ).all()  # fmt: skip
    words = {}
    for dataset_id, *texts in rows:
        for text in texts:
            for word in WORD_RE.findall((text or "").lower()):
                words.setdefault(word, set()).add(dataset_id)
    assert len(words) > 100
    postgresql = db.engine.dialect.name == "postgresql"
    for word, holders in words.items():
        if postgresql and len(word) < 3:
            continue  # PostgreSQL drops stop words ("a", "of") and one-letter words
        [term] = parse_text_query(word + " ")
        found = {
            d.id for d in search(db.session, SearchQuery(text=word + " ", per_page=100)).datasets
        }
        frequency = index._frequency(term)
        for dataset_id in holders & found:
            assert frequency[index.mask_of_ids([dataset_id])][0] > 0, word


def test_a_prefix_counts_every_word_it_starts():
    index = catalog_index.for_version(
        db.session, db.engine.url.render_as_string(), catalog_version(db.session)
    )
    [term] = parse_text_query("handwr")
    frequency = index._frequency(term)
    writing = db.session.scalar(
        sa.select(Dataset.id).where(Dataset.repo_id == "acme/handwritten-digits")
    )
    assert frequency[index.mask_of_ids([writing])][0] > 0


def postgresql_only() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the lexemes of search_vector are kept on PostgreSQL only")


def test_postgresql_matches_in_memory_exactly_as_its_text_search_does(monkeypatch):
    """Every word of the catalog, whole and as it is typed, alone and beside stop words: the
    index's copy of the lexemes finds the datasets `@@` finds, no more and no fewer."""
    postgresql_only()
    words = sorted(catalog_words())
    assert len(words) > 100
    texts = [word + " " for word in words]  # whole words
    texts += sorted({word[:size] for word in words for size in (2, 3, 4, 6) if len(word) > size})
    texts += ["the", "the ", "of and ", "the speech", "speech the ", "speech recog", "speeches "]
    texts += ["data sets ", "dat", "reviews movie", "Ünïcode naïve", "2023 ", "v2 ", "zz"]
    matching_agrees_with_sql(texts)
    # Words and prefixes in memory; a phrase needs positions, so SQL.
    texts = ["speech data ", "speech recog", "the", '"speech recognition"']
    assert asked_sql(monkeypatch, texts) == ['"speech recognition"']


def test_postgresql_matching_follows_every_kind_of_write():
    postgresql_only()
    answers()
    write(
        {"id": "newcomer/okapi-counts", "description": "Okapi sightings along rivers."},
        {"id": "squad", "description": "Quokka photographs, nothing about questions."},
    )
    matching_agrees_with_sql(["okapi ", "quokka ", "question ", "encyclopedia ", "quok", "crowd"])
    found = search(db.session, SearchQuery(text="quokka"))
    assert [d.repo_id for d in found.datasets] == ["squad"]
    assert search(db.session, SearchQuery(text="crowdworkers encyclopedia")).total == 0  # old
    assert kept_copy().patched_in


def test_postgresql_is_asked_for_a_words_lexemes_once(monkeypatch):
    postgresql_only()
    from app.catalog import search as search_module

    statements: list[str] = []
    fetch_rows = search_module.fetch_rows

    def noted(session, statement):  # the statement still runs; it is only noted
        statements.append(str(statement))
        return fetch_rows(session, statement)

    monkeypatch.setattr(search_module, "fetch_rows", noted)

    def lexeme_questions(query: SearchQuery) -> int:
        statements.clear()
        search(db.session, query)
        return sum("to_tsvector" in statement for statement in statements)

    assert lexeme_questions(SearchQuery(text="speech recognition")) == 1
    assert lexeme_questions(SearchQuery(text="recognition", sort="likes")) == 0  # known
    assert lexeme_questions(SearchQuery(text="speech reviews")) == 1  # "reviews" is new
    kept = search(db.session, SearchQuery(text="recognition")).total
    clear_search_cache()  # the lexemes too
    assert lexeme_questions(SearchQuery(text="recognition")) == 1
    assert search(db.session, SearchQuery(text="recognition")).total == kept > 0
