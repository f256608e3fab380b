"""Catalog search: full text, facets, sorting and pagination (SQLite FTS5 or PostgreSQL)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Select,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy import (
    String as SAString,
)
from sqlalchemy.orm import Session

from app.catalog import catalog_index
from app.catalog.store import catalog_version
from app.catalog.textquery import Term, fts5_match_expression, parse_text_query
from app.catalog.vocabulary import DEFAULT_PER_PAGE, FACETS, SIZE_ORDER
from app.database import fetch_rows
from app.lru import WeightedLRU
from app.models import Dataset, DatasetTopic, Topic, TopicModelVersion

FACET_VALUES_SHOWN = 12
TOPIC = "topic"  # the topic filter's name in filter keys (not a facet: nothing counts it)

# SQLite's external-content FTS5 table (see the first migration); rowid is datasets.id.
fts_table = table("datasets_fts", column("rowid"))
FTS_TABLE_COLUMN = literal_column("datasets_fts")
PG_SEARCH_VECTOR = catalog_index.PG_SEARCH_VECTOR


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    sort: str = "downloads"
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    topic: int | None = None  # a Topic id of the topic model (app.semantic.topics)

    @property
    def has_terms(self) -> bool:
        """Whether the text holds anything to search for (a lone "/" or quote does not)."""
        return bool(parse_text_query(self.text))

    @property
    def effective_sort(self) -> str:
        """Relevance needs words to rank by; without them the catalog sorts by downloads."""
        if self.sort == "relevance" and not self.has_terms:
            return "downloads"
        return self.sort


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass
class SearchPage:
    query: SearchQuery
    datasets: list[Dataset]
    total: int
    facets: dict[str, list[FacetValue]]
    notices: list[str] = field(default_factory=list)
    more_facet_values: set[str] = field(default_factory=set)  # facets with values not shown
    topic_label: str | None = None  # "Topic 3: speech, audio, ..." when filtered to a topic

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self.total / self.query.per_page))

    @property
    def first_index(self) -> int:
        return 0 if self.total == 0 else (self.query.page - 1) * self.query.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.query.page * self.query.per_page)


def search(session: Session, query: SearchQuery) -> SearchPage:
    """Run one search; unknown facet values and pages past the end are corrected with a notice."""
    notices: list[str] = []
    counter = _Counter(session, _distinct(parse_text_query(query.text)))
    query = _drop_unknown_filter_values(counter, query, notices)
    query, topic_label = _check_topic(session, query, notices)
    total = counter.total(_filter_key(query))
    page_count = max(1, math.ceil(total / query.per_page))
    if query.page > page_count:
        notices.append(
            f"Page {query.page} is past the end; showing page {page_count} of {page_count}."
        )
        query = replace(query, page=page_count)
    datasets = counter.page(query)

    # Each facet counts under the query without its own filter: facets without a filter share
    # one set of conditions (one query), each filtered facet has its own.
    wanted: dict[FilterKey, list[str]] = {}
    for facet in FACETS:
        wanted.setdefault(_filter_key(query, skip=facet), []).append(facet)
    counted: dict[str, list[tuple[str, int]]] = {}
    for filter_key, facets in wanted.items():
        counted.update(counter.facet_counts(filter_key, facets))

    facets: dict[str, list[FacetValue]] = {}
    more: set[str] = set()
    for facet in FACETS:
        selected = query.filters.get(facet, ())
        values = _facet_values(facet, selected, counted[facet], FACET_VALUES_SHOWN + 1)
        if len([v for v in values if v.count]) > FACET_VALUES_SHOWN:
            more.add(facet)
            values = _trim(values, FACET_VALUES_SHOWN)
        facets[facet] = values
    return SearchPage(
        query=query,
        datasets=datasets,
        total=total,
        facets=facets,
        notices=notices,
        more_facet_values=more,
        topic_label=topic_label,
    )


def all_facet_values(session: Session, query: SearchQuery, facet: str) -> list[FacetValue]:
    """Every value of one facet with its count under the rest of the query, for "show all"."""
    counter = _Counter(session, _distinct(parse_text_query(query.text)))
    query = _drop_unknown_filter_values(counter, query, [])
    query, _ = _check_topic(session, query, [])
    counted = counter.facet_counts(_filter_key(query, skip=facet), [facet])
    return _facet_values(facet, query.filters.get(facet, ()), counted[facet], None)


# --------------------------------------------------------------------------------------------
# Counts and pages, kept per catalog version.
#
# What a search counts and lists changes only when the catalog does, and every catalog write
# bumps the version stored in the database (app.catalog.store.bump_catalog_version) in its own
# transaction. Each search reads the version first, then the data, so the data it reads is at
# least as new as the version; totals, facet counts and the dataset ids of result pages are
# kept in this process under (database, version, ...), and the first search after a write, in
# any process, reads the new version and misses. Each gunicorn worker has its own cache.
# --------------------------------------------------------------------------------------------
# The cache's size in items: a total counts 1, a page or a facet's counts 1 per id or value
# (about 100 bytes each), so a worker keeps at most about 20 MB.
CACHE_ITEMS = 200_000

FilterKey = tuple[tuple[str, tuple[str, ...]], ...]


def _items(key: Hashable, value: object) -> int:
    """A kept value's size in items: a total counts 1, ids or facet values 1 each."""
    return len(value) + 1 if isinstance(value, list | tuple | frozenset) else 1


_cache = WeightedLRU(CACHE_ITEMS, _items)


def clear_search_cache() -> None:
    """Forget every kept count, page and word's lexemes (for the benchmark's first-hit timings)."""
    _cache.clear()
    _lexemes_of.clear()


def _distinct(terms: list[Term]) -> list[Term]:
    """A repeated term narrows nothing; it only makes matching and ranking slower."""
    return list(dict.fromkeys(terms))


def _filter_key(query: SearchQuery, skip: str | None = None) -> FilterKey:
    """The filters as a key: values of a facet are alternatives, so their order does not count.

    A topic narrows like a facet (never skipped: no facet counts it); a topic's members never
    change (a refit makes new topics), so its id is a fair key.
    """
    found = [
        (facet, tuple(sorted(set(values))))
        for facet, values in query.filters.items()
        if values and facet != skip
    ]
    if query.topic is not None:
        found.append((TOPIC, (str(query.topic),)))
    return tuple(sorted(found))


def _check_topic(
    session: Session, query: SearchQuery, notices: list[str]
) -> tuple[SearchQuery, str | None]:
    """The query without its topic if that is not a topic of the current topic model."""
    if query.topic is None:
        return query, None
    topic = session.scalar(
        select(Topic)
        .join(TopicModelVersion, TopicModelVersion.id == Topic.version_id)
        .where(Topic.id == query.topic, TopicModelVersion.is_current.is_(True))
    )
    if topic is None:
        notices.append(
            "That topic is not in the current topic model (it was refitted since); "
            "the topic filter was removed."
        )
        return replace(query, topic=None), None
    return query, f"Topic {topic.number}: {topic.label}"


class _Counter:
    """One request's counts and pages for a text, each under some filters; kept per version."""

    def __init__(self, session: Session, terms: list[Term]) -> None:
        self.session = session
        self.terms = terms
        self.version = catalog_version(session)  # before any data is read
        # No version (no catalog write since the table was made or emptied): keep nothing.
        self.database = session.get_bind().url.render_as_string()
        self.scope = None if self.version is None else (self.database, str(self.version))
        self._request: dict[Hashable, object] = {}  # within the request, kept in any case
        self._index: catalog_index.CatalogIndex | None = None
        self._masks: dict[FilterKey, np.ndarray] = {}

    @property
    def index(self) -> catalog_index.CatalogIndex:
        if self._index is None:
            self._index = catalog_index.for_version(self.session, self.database, self.version)
        return self._index

    def _get(self, *key: Hashable) -> object | None:
        if key in self._request:
            return self._request[key]
        return _cache.get((self.scope, tuple(self.terms), *key)) if self.scope else None

    def _put(self, value: object, *key: Hashable) -> None:
        self._request[key] = value
        if self.scope:
            _cache.put((self.scope, tuple(self.terms), *key), value)

    def _mask(self, filter_key: FilterKey, text: bool = True) -> np.ndarray:
        """The datasets matching the text (unless `text` is false) and the filters."""
        key = filter_key if text else ("no text", filter_key)
        mask = self._masks.get(key)
        if mask is not None:
            return mask
        if filter_key:
            facet, values = filter_key[-1]
            if facet == TOPIC:
                members = self.session.scalars(_topic_members(int(values[0])))
                narrowed = self.index.mask_of_ids(members)
            else:
                narrowed = self.index.mask_of_values(facet, values)
            mask = self._mask(filter_key[:-1], text) & narrowed
        elif text and self.terms:
            mask = _text_mask(self.session, self.index, self.terms)
        else:
            mask = np.ones(len(self.index), dtype=bool)
        self._masks[key] = mask
        return mask

    def known_values(self, facet: str, values: tuple[str, ...]) -> frozenset[str]:
        """Those of the values that some dataset has."""
        return frozenset(value for value in values if self.index.has_value(facet, value))

    def total(self, filter_key: FilterKey) -> int:
        total = self._get("total", filter_key)
        if total is None:
            total = int(np.count_nonzero(self._mask(filter_key)))
            self._put(total, "total", filter_key)
        return total

    def facet_counts(
        self, filter_key: FilterKey, facets: list[str]
    ) -> dict[str, list[tuple[str, int]]]:
        """Every value of each facet with its count under the filters, most common first."""
        found = {facet: self._get("facet", filter_key, facet) for facet in facets}
        missing = [facet for facet, values in found.items() if values is None]
        if missing:
            counted = self.index.counts(self._mask(filter_key), missing)
            for facet, values in counted.items():
                self._put(values, "facet", filter_key, facet)
            found.update(counted)
        return found

    def page(self, query: SearchQuery) -> list[Dataset]:
        """The datasets of the page; their ids are kept, the rows always read afresh."""
        filter_key = _filter_key(query)
        sort = query.effective_sort
        exact = query.text.strip().lower() if sort == "relevance" else ""
        key = ("page", filter_key, sort, exact, query.page, query.per_page)
        ids = self._get(*key)
        offset = (query.page - 1) * query.per_page
        if ids is None:
            mask = self._mask(filter_key)
            if sort == "relevance":
                ids = self.index.relevance_page(mask, self.terms, exact, offset, query.per_page)
            else:
                ids = self.index.page(mask, sort, offset, query.per_page)
        self._put(ids, *key)
        if not ids:
            return []
        rows = self.session.scalars(select(Dataset).where(Dataset.id.in_(ids)))
        by_id = {dataset.id: dataset for dataset in rows}
        return [by_id[i] for i in ids if i in by_id]


def _text_mask(
    session: Session, index: catalog_index.CatalogIndex, terms: list[Term]
) -> np.ndarray:
    """The datasets whose text matches the terms.

    PostgreSQL: the query's words become lexemes in PostgreSQL (one round trip), then the
    index's copy of every dataset's lexemes answers as `@@` would. Phrases need positions, and a
    prefix PostgreSQL splits into several lexemes becomes a phrase of prefixes in to_tsquery:
    those are matched in SQL, as is everything on SQLite (FTS5 answers quickly)."""
    if _is_postgresql(session) and not any(term.phrase for term in terms):
        lexemes = list(zip(_pg_lexemes(session, terms), (t.prefix for t in terms), strict=True))
        if not any(prefix and len(found) > 1 for found, prefix in lexemes):
            return index.lexeme_mask(lexemes)
    return index.mask_of_ids(_text_matches(session, terms))


def _pg_lexemes(session: Session, terms: list[Term]) -> list[tuple[str, ...]]:
    """Each term's words as the english configuration turns them into lexemes, as
    plainto_tsquery and to_tsquery do (the configuration's dictionaries give a token at most one
    lexeme); none for a stop word."""
    database = session.get_bind().url.render_as_string()
    texts = [" ".join(term.words) for term in terms]
    known = {text: _lexemes_of.get((database, text)) for text in texts}
    missing = [text for text, lexemes in known.items() if lexemes is None]
    if missing:
        [row] = fetch_rows(
            session,
            select(
                *(
                    func.tsvector_to_array(func.to_tsvector("english", literal(text, SAString)))
                    for text in missing
                )
            ),
        )
        for text, found in zip(missing, row, strict=True):
            known[text] = tuple(found or ())
            _lexemes_of.put((database, text), known[text])
    return [known[text] for text in texts]


# A text's lexemes under the english configuration do not change: kept per database, so a
# search for words seen before makes no round trip for them.
LEXEME_TEXTS_KEPT = 100_000
_lexemes_of = WeightedLRU(LEXEME_TEXTS_KEPT, lambda key, lexemes: 1)


def _text_matches(session: Session, terms: list[Term]) -> np.ndarray:
    """The ids of the datasets whose text matches, aggregated in the database: one value
    instead of a row per match (75,000 rows cost SQLite twice the time of one list of them)."""
    if _is_postgresql(session):
        matching = PG_SEARCH_VECTOR.op("@@")(_pg_tsquery(terms))
        [(ids,)] = fetch_rows(session, select(func.array_agg(Dataset.id)).where(matching))
        return np.array(ids or [], dtype=np.int64)
    matching = FTS_TABLE_COLUMN.op("MATCH")(fts5_match_expression(terms))
    [(ids,)] = fetch_rows(session, select(func.group_concat(fts_table.c.rowid)).where(matching))
    return np.fromstring(ids, dtype=np.int64, sep=",") if ids else np.zeros(0, dtype=np.int64)


def _trim(values: list[FacetValue], limit: int) -> list[FacetValue]:
    """The first `limit` values, plus any selected value beyond them."""
    return values[:limit] + [v for v in values[limit:] if v.selected]


def _drop_unknown_filter_values(
    counter: _Counter, query: SearchQuery, notices: list[str]
) -> SearchQuery:
    kept: dict[str, tuple[str, ...]] = {}
    for facet, values in query.filters.items():
        if not values:
            continue
        known = counter.known_values(facet, values)
        for value in values:
            if value not in known:
                label = FACETS[facet].lower()
                notices.append(f"No dataset has {label} “{value[:60]}”; that filter was removed.")
        if known:
            kept[facet] = tuple(v for v in values if v in known)
    return replace(query, filters=kept)


def _topic_members(topic_id: int) -> Select:
    return select(DatasetTopic.dataset_id).where(DatasetTopic.topic_id == topic_id)


def _pg_tsquery(terms: list[Term]) -> ColumnElement:
    """Build the tsquery from functions and bound values, never from user syntax."""
    parts: list[ColumnElement] = []
    for term in terms:
        text = " ".join(term.words)
        if term.phrase:
            parts.append(func.phraseto_tsquery("english", text))
        elif term.prefix:
            parts.append(func.to_tsquery("english", literal(text, SAString) + ":*"))
        else:
            parts.append(func.plainto_tsquery("english", text))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.op("&&")(part)
    return combined


def _facet_values(
    facet: str, selected: tuple[str, ...], counted: list[tuple[str, int]], limit: int | None
) -> list[FacetValue]:
    """The first `limit` values, then selected ones beyond them (with 0 if nothing has them)."""
    shown = counted if limit is None else counted[:limit]
    counts = dict(shown)
    counts.update((value, n) for value, n in counted[len(shown) :] if value in selected)
    values = [FacetValue(v, n, v in selected) for v, n in counts.items()]
    values += [FacetValue(v, 0, True) for v in selected if v not in counts]
    if facet == "size":
        values.sort(key=lambda fv: SIZE_ORDER.get(fv.value, len(SIZE_ORDER)))
    return values


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
