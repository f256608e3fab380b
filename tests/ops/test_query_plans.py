"""The statements behind search, browse, following, feed and combinations use indexes.

The statements are the app's own: captured from real requests through the engine's
before_cursor_execute event, with their parameters, then explained on the same connection
pool. A statement fails when its plan reads a whole table where it filters (has a WHERE):

- SQLite (`EXPLAIN QUERY PLAN`): a `SCAN <table>` step on one of our tables, with or without a
  covering index (a covering-index scan still reads every row of the table). `SEARCH` steps, the
  FTS5 virtual table's own index, and scans of a subquery's materialised rows are fine. The
  plans are made without statistics (sqlite_stat1 emptied on the explaining connection): SQLite
  then takes every table to be large, so, like PostgreSQL below, it says whether an index can
  serve. With statistics of a test's few hundred rows it rightly scans small tables instead.
- PostgreSQL (`EXPLAIN (FORMAT JSON)`) with `enable_seqscan = off`: on tables this small the
  planner rightly prefers sequential scans, so the question asked is whether an index *could*
  serve. With sequential scans priced out, a `Seq Scan` node means no index fits the
  statement's conditions, and an index scan without an `Index Cond` means the index was only
  used to read everything in order. Both fail.

Statements without a WHERE read a whole table on purpose: the in-memory catalog index is built
from every dataset id and facet row, and the sort orders are read whole once per catalog
version (app/catalog/catalog_index.py). They are left out. (The SQLite scan plan for broad
matches that bench/README.md describes went with that index: no search statement is excluded.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Combination
from tests.conftest import create_user
from tests.ops.conftest import add_datasets, combination_of, dataset_ids, follow_with_history

SCAN = re.compile(r"^SCAN (\w+)")


@dataclass(frozen=True)
class Captured:
    page: str
    statement: str
    parameters: object


@pytest.fixture
def captured(hub_app, client, person):
    """Every statement of the pages under test, once each, with the parameters it ran with."""
    add_datasets(300)
    ids = dataset_ids()
    other = create_user("other@example.com")
    follow_with_history(other.id, ids[100:160])
    combination_of(other.id, ids[100:130], "Someone else's")
    follow_with_history(person.user_id, ids[:40])
    mine = combination_of(person.user_id, ids[:12])
    combination_of(person.user_id, ids[20:25], "Another", active=False)
    db.session.get(Combination, mine).share_token = "t" * 32
    db.session.commit()

    pages = [
        (client, "/datasets"),
        (client, "/datasets?license=mit&task=translation&sort=likes"),
        (client, "/datasets?q=news"),
        (client, "/datasets?q=news+medical&license=mit&language=fr"),
        (client, "/datasets?q=news&sort=downloads&page=2"),
        (person.client, "/datasets?q=legal"),
        (person.client, "/following"),
        (person.client, "/following?sort=name"),
        (person.client, "/following?sort=followed"),
        (person.client, "/feed"),
        (person.client, "/feed?page=2"),
        (person.client, "/combinations"),
        (person.client, f"/combinations/{mine}"),
        (client, f"/shared/{'t' * 32}"),
    ]
    found: dict[str, Captured] = {}
    current = {"page": ""}

    def record(conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith("SELECT"):
            found.setdefault(statement, Captured(current["page"], statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        for visitor, url in pages:
            current["page"] = url
            assert visitor.get(url).status_code == 200, url
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return [c for c in found.values() if re.search(r"\bWHERE\b", c.statement)]


def forget_sqlite_statistics(connection) -> None:
    """Plans as for large tables: no sqlite_stat1 rows, reloaded on this connection."""
    cursor = connection.cursor()
    cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
    if cursor.fetchone():
        cursor.execute("DELETE FROM sqlite_stat1")
        connection.commit()
        cursor.execute("ANALYZE sqlite_schema")  # reloads the (now empty) statistics
    cursor.close()


def sqlite_problems(connection, item: Captured) -> list[str]:
    tables = set(db.metadata.tables)
    cursor = connection.cursor()
    cursor.execute("EXPLAIN QUERY PLAN " + item.statement, item.parameters)
    steps = [row[3] for row in cursor.fetchall()]
    cursor.close()
    return [step for step in steps if (match := SCAN.match(step)) and match.group(1) in tables]


def plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def postgresql_problems(connection, item: Captured) -> list[str]:
    import psycopg

    # Client-side binding: the statement is explained with its values, as it ran.
    cursor = psycopg.ClientCursor(connection.driver_connection)
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("EXPLAIN (FORMAT JSON) " + item.statement, item.parameters)
    plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    cursor.close()
    problems = []
    for node in plan_nodes(plan[0]["Plan"]):
        kind, table = node["Node Type"], node.get("Relation Name")
        if kind == "Seq Scan":
            problems.append(f"Seq Scan on {table}")
        elif kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
            problems.append(f"{kind} of all of {table} ({node.get('Index Name')})")
    return problems


def test_the_pages_statements_search_indexes_rather_than_scan_tables(captured):
    assert len(captured) >= 15  # the pages above really were captured
    connection = db.engine.raw_connection()
    try:
        postgresql = db.engine.dialect.name == "postgresql"
        if not postgresql:
            forget_sqlite_statistics(connection)
        failures = []
        for item in captured:
            problems = (postgresql_problems if postgresql else sqlite_problems)(connection, item)
            if problems:
                statement = " ".join(item.statement.split())[:300]
                failures.append(f"{item.page}: {statement}\n    -> {problems}")
        connection.rollback()
    finally:
        connection.close()
    assert not failures, "Whole-table reads:\n" + "\n".join(failures)


def test_the_check_catches_a_scan(captured):
    """The checker itself: a filter on a column without an index must be reported."""
    connection = db.engine.raw_connection()
    try:
        postgresql = db.engine.dialect.name == "postgresql"
        if not postgresql:
            forget_sqlite_statistics(connection)
        statement = (
            "SELECT id FROM dataset_changes WHERE summary = %(summary)s"
            if postgresql
            else "SELECT id FROM dataset_changes WHERE summary = :summary"
        )
        item = Captured("(hand-made)", statement, {"summary": "commit 1"})
        problems = (postgresql_problems if postgresql else sqlite_problems)(connection, item)
        connection.rollback()
    finally:
        connection.close()
    assert problems and "dataset_changes" in problems[0]
