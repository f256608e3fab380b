"""The catalog: browse, search and filter the mirrored datasets."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_login import current_user

from app.catalog.params import parse_browse_args, query_string_args
from app.catalog.search import SearchQuery, all_facet_values, search
from app.catalog.vocabulary import FACETS
from app.embeddings.model import ModelError, embedder_for
from app.extensions import db
from app.follows import service as follows
from app.htmx import render, wants_fragment
from app.semantic.similar import search_text

bp = Blueprint("catalog", __name__)


class BrowseLinks:
    """URLs for the links on a results page, each a variation of the current query."""

    def __init__(self, query: SearchQuery) -> None:
        self.query = query
        self._built: dict[tuple, str] = {}

    def _url(self, key: tuple, **changes) -> str:
        # The templates ask for most links twice (href and hx-get): build each once per page.
        url = self._built.get(key)
        if url is None:
            url = url_for("catalog.browse", **query_string_args(self.query, **changes))
            self._built[key] = url
        return url

    def page(self, number: int) -> str:
        return self._url(("page", number), page=number)

    def without(self, facet: str, value: str) -> str:
        remaining = [v for v in self.query.filters.get(facet, ()) if v != value]
        return self._url(("without", facet, value), page=1, **{facet: remaining})

    def without_text(self) -> str:
        return self._url(
            ("without_text",),
            page=1,
            q="",
            sort=None if self.query.sort == "relevance" else self.query.sort,
        )

    def without_topic(self) -> str:
        return self._url(("without_topic",), page=1, topic=None)

    def clear_filters(self) -> str:
        return self._url(
            ("clear_filters",), page=1, topic=None, **{facet: [] for facet in self.query.filters}
        )

    def current(self) -> str:
        return self._url(("current",))

    def all_values(self, facet: str) -> str:
        return url_for("catalog.facet_values", facet=facet, **query_string_args(self.query, page=1))


@bp.get("/")
def index():
    return redirect(url_for("catalog.browse"))


class SemanticLinks(BrowseLinks):
    """Links from a semantic search keep its mode."""

    def current(self) -> str:
        return url_for("catalog.browse", mode="semantic", **query_string_args(self.query, page=1))


@dataclass
class SemanticPage:
    """Results of "find datasets like this text", shaped like a page of SearchPage for the
    page's form and status."""

    query: SearchQuery
    neighbours: list
    page_count: int = 1

    @property
    def total(self) -> int:
        return len(self.neighbours)

    @property
    def datasets(self) -> list:
        return [neighbour.dataset for neighbour in self.neighbours]


def _semantic_browse(query: SearchQuery, notices: list[str]):
    neighbours = []
    if query.text:
        try:
            neighbours = search_text(
                db.session, embedder_for(current_app), query.text, limit=query.per_page
            )
        except ModelError as error:
            notices = [*notices, f"Search by meaning is unavailable: {error}"]
        if not neighbours and not notices:
            notices = ["Search by meaning needs the catalog's vectors (flask embeddings build)."]
    result = SemanticPage(query, neighbours)
    return render(
        "catalog/browse.html",
        "catalog/_semantic_results.html",
        status=200,
        result=result,
        mode="semantic",
        notices=notices,
        links=SemanticLinks(query),
        **_follows_on_page(result.datasets),
    )


def _follows_on_page(datasets: list) -> dict:
    """The rows' follow buttons and follower counts (the template's followed_ids and
    follower_counts)."""
    user_id = current_user.id if current_user.is_authenticated else None
    followed, counts = follows.follows_on_page(db.session, user_id, [d.id for d in datasets])
    return {"followed_ids": followed, "follower_counts": counts}


@bp.get("/datasets")
def browse():
    query, problems = parse_browse_args(request.args)
    if request.args.get("mode") == "semantic":
        return _semantic_browse(query, problems)
    result = search(db.session, query)
    notices = problems + result.notices
    links = BrowseLinks(result.query)
    response = render(
        "catalog/browse.html",
        "catalog/_results.html",
        status=400 if notices else 200,
        result=result,
        mode="words",
        notices=notices,
        links=links,
        **_follows_on_page(result.datasets),
    )
    if notices and wants_fragment():
        # Show the corrected state in the address bar, not the invalid one.
        response.headers["HX-Push-Url"] = links.current()
    return response


@bp.get("/facets/<facet>")
def facet_values(facet: str):
    """Every value of one facet, to pick from when the sidebar shows only the commonest."""
    if facet not in FACETS:
        abort(404, f"There is no “{facet[:40]}” filter.")
    query, problems = parse_browse_args(request.args)
    values = all_facet_values(db.session, query, facet)
    return render(
        "catalog/facet_values.html",
        "catalog/facet_values.html",
        status=400 if problems else 200,
        facet=facet,
        values=values,
        query=query,
        notices=problems,
        links=BrowseLinks(query),
    )
