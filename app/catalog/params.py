"""Read browse parameters from a query string, correcting bad values with a message."""

from __future__ import annotations

from typing import Protocol

from app.catalog.search import SearchQuery
from app.catalog.vocabulary import DEFAULT_PER_PAGE, FACETS, PER_PAGE_CHOICES, SORTS

MAX_QUERY_CHARS = 200
MAX_VALUES_PER_FACET = 20


class MultiMapping(Protocol):
    def get(self, key: str, default: str | None = None) -> str | None: ...
    def getlist(self, key: str) -> list[str]: ...


def parse_browse_args(args: MultiMapping) -> tuple[SearchQuery, list[str]]:
    """Return the query to run and what was wrong with the parameters (empty when all was fine)."""
    problems: list[str] = []

    text = " ".join((args.get("q") or "").split())
    if len(text) > MAX_QUERY_CHARS:
        problems.append(f"The search was cut to its first {MAX_QUERY_CHARS} characters.")
        text = text[:MAX_QUERY_CHARS]

    default_sort = "relevance" if text else "downloads"
    sort = args.get("sort") or default_sort
    if sort not in SORTS:
        problems.append(f"Unknown sort “{sort[:40]}”; sorted by {SORTS[default_sort].lower()}.")
        sort = default_sort

    per_page = _whole_number(args.get("per_page"), DEFAULT_PER_PAGE)
    if per_page not in PER_PAGE_CHOICES:
        choices = ", ".join(map(str, PER_PAGE_CHOICES))
        problems.append(f"Results per page can be {choices}; showing {DEFAULT_PER_PAGE}.")
        per_page = DEFAULT_PER_PAGE

    page = _whole_number(args.get("page"), 1)
    if page is None or page < 1:
        problems.append(f"“{(args.get('page') or '')[:20]}” is not a page number; showing page 1.")
        page = 1

    filters: dict[str, tuple[str, ...]] = {}
    for facet in FACETS:
        values = [v.strip()[:100] for v in args.getlist(facet) if v.strip()]
        values = list(dict.fromkeys(values))
        if len(values) > MAX_VALUES_PER_FACET:
            problems.append(
                f"At most {MAX_VALUES_PER_FACET} {FACETS[facet].lower()} filters apply at once."
            )
            values = values[:MAX_VALUES_PER_FACET]
        if values:
            filters[facet] = tuple(values)

    topic = _whole_number(args.get("topic"), None)
    if topic is None and args.get("topic"):
        problems.append(f"“{(args.get('topic') or '')[:20]}” is not a topic; showing every topic.")

    query = SearchQuery(
        text=text, sort=sort, filters=filters, page=page, per_page=per_page, topic=topic
    )
    return query, problems


def _whole_number(raw: str | None, default: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # "²".isdigit() too
        return None
    return int(raw)


def query_string_args(query: SearchQuery, **changes) -> dict[str, object]:
    """The URL arguments that reproduce `query`, with defaults left out so URLs stay short."""
    args: dict[str, object] = {}
    values = {
        "q": query.text,
        "sort": query.sort,
        "page": query.page,
        "per_page": query.per_page,
        "topic": query.topic,
        **{facet: list(values) for facet, values in query.filters.items()},
    }
    values.update(changes)
    default_sort = "relevance" if values["q"] else "downloads"
    for key, value in values.items():
        if value in (None, "", [], ()):
            continue
        if (key == "page" and value == 1) or (key == "per_page" and value == DEFAULT_PER_PAGE):
            continue
        if key == "sort" and value == default_sort:
            continue
        args[key] = value
    return args
