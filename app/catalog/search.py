"""Catalog search: full text, facets, sorting and pagination (SQLite FTS5 or PostgreSQL)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    true,
)
from sqlalchemy import (
    String as SAString,
)
from sqlalchemy.orm import Session

from app.catalog.textquery import Term, fts5_match_expression, parse_text_query
from app.catalog.vocabulary import DEFAULT_PER_PAGE, FACETS, SIZE_ORDER
from app.models import Dataset, DatasetFacet

FACET_VALUES_SHOWN = 12

# SQLite's external-content FTS5 table (see the first migration); rowid is datasets.id.
fts_table = table("datasets_fts", column("rowid"))
FTS_TABLE_COLUMN = literal_column("datasets_fts")
PG_SEARCH_VECTOR = literal_column("datasets.search_vector")


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    sort: str = "downloads"
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

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
    query = _drop_unknown_filter_values(session, query, notices)
    terms = parse_text_query(query.text)
    text_condition = _text_condition(session, terms)

    def conditions(skip_facet: str | None = None) -> list[ColumnElement[bool]]:
        return _conditions(query, text_condition, skip_facet)

    total = session.scalar(select(func.count(Dataset.id)).where(*conditions())) or 0
    page_count = max(1, math.ceil(total / query.per_page))
    if query.page > page_count:
        notices.append(
            f"Page {query.page} is past the end; showing page {page_count} of {page_count}."
        )
        query = replace(query, page=page_count)

    statement = select(Dataset).where(*conditions())
    statement = _order(session, statement, query, terms)
    statement = statement.limit(query.per_page).offset((query.page - 1) * query.per_page)
    datasets = list(session.scalars(statement))

    facets: dict[str, list[FacetValue]] = {}
    more: set[str] = set()
    for facet in FACETS:
        selected = query.filters.get(facet, ())
        values = _facet_counts(session, facet, selected, conditions(facet), FACET_VALUES_SHOWN + 1)
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
    )


def all_facet_values(session: Session, query: SearchQuery, facet: str) -> list[FacetValue]:
    """Every value of one facet with its count under the rest of the query, for "show all"."""
    query = _drop_unknown_filter_values(session, query, [])
    text_condition = _text_condition(session, parse_text_query(query.text))
    conditions = _conditions(query, text_condition, skip_facet=facet)
    return _facet_counts(session, facet, query.filters.get(facet, ()), conditions, None)


def _conditions(
    query: SearchQuery, text_condition: ColumnElement[bool] | None, skip_facet: str | None
) -> list[ColumnElement[bool]]:
    found = [text_condition] if text_condition is not None else []
    found += [
        _facet_condition(facet, values)
        for facet, values in query.filters.items()
        if values and facet != skip_facet
    ]
    return found


def _trim(values: list[FacetValue], limit: int) -> list[FacetValue]:
    """The first `limit` values, plus any selected value beyond them."""
    return values[:limit] + [v for v in values[limit:] if v.selected]


def _drop_unknown_filter_values(
    session: Session, query: SearchQuery, notices: list[str]
) -> SearchQuery:
    kept: dict[str, tuple[str, ...]] = {}
    for facet, values in query.filters.items():
        if not values:
            continue
        known = set(
            session.scalars(
                select(DatasetFacet.value)
                .where(DatasetFacet.facet == facet, DatasetFacet.value.in_(values))
                .distinct()
            )
        )
        for value in values:
            if value not in known:
                label = FACETS[facet].lower()
                notices.append(f"No dataset has {label} “{value[:60]}”; that filter was removed.")
        if known:
            kept[facet] = tuple(v for v in values if v in known)
    return replace(query, filters=kept)


def _facet_condition(facet: str, values: tuple[str, ...]) -> ColumnElement[bool]:
    """Values of one facet are alternatives (OR); different facets narrow each other (AND)."""
    return Dataset.id.in_(
        select(DatasetFacet.dataset_id).where(
            DatasetFacet.facet == facet, DatasetFacet.value.in_(values)
        )
    )


def _text_condition(session: Session, terms: list[Term]) -> ColumnElement[bool] | None:
    if not terms:
        return None
    if _is_postgresql(session):
        return PG_SEARCH_VECTOR.op("@@")(_pg_tsquery(terms))
    return Dataset.id.in_(
        select(fts_table.c.rowid).where(FTS_TABLE_COLUMN.op("MATCH")(fts5_match_expression(terms)))
    )


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


def _order(session: Session, statement: Select, query: SearchQuery, terms: list[Term]) -> Select:
    nulls_last = {
        "downloads": Dataset.downloads,
        "likes": Dataset.likes,
        "trending": Dataset.trending_score,
        "updated": Dataset.last_modified,
        "created": Dataset.created_at,
    }
    sort = query.effective_sort
    if sort == "name":
        return statement.order_by(func.lower(Dataset.repo_id), Dataset.id)
    if sort in nulls_last:
        return statement.order_by(
            nulls_last[sort].desc().nulls_last(), Dataset.downloads.desc().nulls_last(), Dataset.id
        )
    # Relevance: an exact name match first, then text rank lifted a little by popularity.
    text = query.text.strip().lower()
    exact = case(
        (func.lower(Dataset.repo_id) == text, 0),
        (func.lower(Dataset.repo_id).endswith("/" + text), 0),
        else_=1,
    )
    popularity = 1.0 + 0.1 * func.length(cast(func.coalesce(Dataset.downloads, 0), SAString))
    if _is_postgresql(session):
        rank = func.ts_rank_cd(PG_SEARCH_VECTOR, _pg_tsquery(terms), 1) * popularity
        return statement.order_by(exact, rank.desc(), Dataset.id)
    # bm25() is negative, more negative is better; weights: repo id, name, keywords, description.
    statement = statement.join(fts_table, fts_table.c.rowid == Dataset.id).where(
        FTS_TABLE_COLUMN.op("MATCH")(fts5_match_expression(terms))
    )
    rank = func.bm25(FTS_TABLE_COLUMN, 10.0, 10.0, 4.0, 1.0) * popularity
    return statement.order_by(exact, rank, Dataset.id)


def _facet_counts(
    session: Session,
    facet: str,
    selected: tuple[str, ...],
    conditions: list[ColumnElement[bool]],
    limit: int | None,
) -> list[FacetValue]:
    """Counts under the current query and the other facets' filters, most common first."""
    statement = (
        select(DatasetFacet.value, func.count().label("n"))
        .where(DatasetFacet.facet == facet)
        .group_by(DatasetFacet.value)
        .order_by(literal_column("n").desc(), DatasetFacet.value)
    )
    if conditions:
        statement = statement.where(
            DatasetFacet.dataset_id.in_(select(Dataset.id).where(and_(true(), *conditions)))
        )
    counts = dict(session.execute(statement.limit(limit)).all())
    missing = [value for value in selected if value not in counts]
    if missing:
        counts.update(
            session.execute(statement.where(DatasetFacet.value.in_(missing)).order_by(None)).all()
        )
    values = [FacetValue(v, n, v in selected) for v, n in counts.items()]
    values += [FacetValue(v, 0, True) for v in selected if v not in counts]
    if facet == "size":
        values.sort(key=lambda fv: SIZE_ORDER.get(fv.value, len(SIZE_ORDER)))
    return values


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
