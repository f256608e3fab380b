"""Checks shared by the search tests: the in-memory text match against the database's own."""

from __future__ import annotations

import sqlalchemy as sa

from app.catalog import catalog_index
from app.catalog.search import _distinct, _text_mask, _text_matches
from app.catalog.store import catalog_version
from app.catalog.textquery import WORD_RE, parse_text_query
from app.extensions import db
from app.models import Dataset


def current_index() -> catalog_index.CatalogIndex:
    return catalog_index.for_version(
        db.session, db.engine.url.render_as_string(), catalog_version(db.session)
    )


def catalog_words() -> set[str]:
    rows = db.session.execute(
        sa.select(Dataset.repo_id, Dataset.pretty_name, Dataset.keywords, Dataset.description)
    ).all()
    return {word for texts in rows for text in texts for word in WORD_RE.findall(text or "")}


def asked_sql(monkeypatch, texts: list[str]) -> list[str]:
    """Those of the texts whose match went to SQL (`@@` or MATCH) rather than the index's copy:
    the real SQL match still runs, only its calls are noted."""
    from app.catalog import search

    asked: list[str] = []
    sql_match = search._text_matches

    def noted(session, terms):
        asked.append(current)
        return sql_match(session, terms)

    monkeypatch.setattr(search, "_text_matches", noted)
    index = current_index()
    for current in texts:
        _text_mask(db.session, index, parse_text_query(current))
    monkeypatch.undo()
    return asked


def matching_agrees_with_sql(texts: list[str]) -> None:
    index = current_index()
    for text in texts:
        terms = _distinct(parse_text_query(text))
        if not terms:
            continue
        in_memory = _text_mask(db.session, index, terms)
        in_sql = index.mask_of_ids(_text_matches(db.session, terms))
        assert (in_memory == in_sql).all(), (text, in_memory.sum(), in_sql.sum())
