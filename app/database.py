"""Per-connection database settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Select, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _connection_record) -> None:
    """WAL: readers beside a writer; busy_timeout: wait, not fail; foreign keys: off by default."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def dialect_name(engine: Engine) -> str:
    return engine.dialect.name


def fetch_rows(session: Session, statement: Select) -> list[tuple]:
    """The statement's rows as the driver's plain tuples, in the session's transaction.

    For reads of tens of thousands of rows (the search index, a broad text match): SQLAlchemy
    rows cost about three times the driver's. Values are bound as parameters, as usual; only
    types needing no conversion (numbers, text) belong in such statements.
    """
    return [row for chunk in fetch_chunks(session, statement, None) for row in chunk]


def fetch_chunks(
    session: Session, statement: Select, size: int | None = 10_000
) -> Iterator[list[tuple]]:
    """As fetch_rows, in lists of up to `size` rows (all at once when None): the driver makes
    Python objects of one chunk at a time, so a read of millions of values (every dataset's
    lexemes) never holds them all."""
    connection = session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.params
    if compiled.positiontup is not None:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(compiled.string, params)
        if size is None:
            yield cursor.fetchall()
            return
        while chunk := cursor.fetchmany(size):
            yield chunk
    finally:
        cursor.close()


@contextmanager
def kept_after_commit(session: Session | scoped_session) -> Iterator[None]:
    """Commits inside the block leave the objects already loaded as they are.

    A commit expires every loaded object, and each is then read again by a query of its own
    on its next use: work that commits each Hub answer as it arrives would read its
    combination, members and datasets again after every one. Only for work that refreshes
    what it knows it changed by statements that bypass the objects (`session.refresh`).
    """
    target = session() if isinstance(session, scoped_session) else session
    before = target.expire_on_commit
    target.expire_on_commit = False
    try:
        yield
    finally:
        target.expire_on_commit = before
