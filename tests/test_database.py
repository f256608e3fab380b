"""Raw reads for the search index: the driver's tuples, whole or in chunks, bound parameters."""

from __future__ import annotations

from sqlalchemy import select

from app.database import fetch_chunks, fetch_rows
from app.extensions import db
from app.models import Dataset


def test_chunks_together_are_the_whole_read_in_order(small_catalog):
    statement = select(Dataset.id, Dataset.repo_id).order_by(Dataset.id)
    whole = fetch_rows(db.session, statement)
    chunks = list(fetch_chunks(db.session, statement, 7))
    assert len(whole) == 45
    assert [len(chunk) for chunk in chunks] == [7] * 6 + [3]
    assert [row for chunk in chunks for row in chunk] == whole
    assert [tuple(row) for row in whole] == [tuple(row) for row in db.session.execute(statement)]


def test_values_are_bound_not_spliced(small_catalog):
    hostile = "squad' OR '1'='1"
    statement = select(Dataset.id).where(Dataset.repo_id.in_([hostile, "squad"]))
    assert len(fetch_rows(db.session, statement)) == 1
