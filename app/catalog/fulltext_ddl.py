"""DDL for full-text search, shared by migrations.

SQLite: an external-content FTS5 table kept in sync by triggers. Alembic's batch mode on SQLite
rebuilds a table to alter it, which drops its triggers: a migration that alters `datasets`
must call `create_sqlite_fulltext` again afterwards (it is idempotent).
PostgreSQL: a stored generated tsvector column with a GIN index.
"""

from __future__ import annotations

SQLITE_CREATE = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS datasets_fts USING fts5(
        repo_id, pretty_name, keywords, description,
        content='datasets', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER IF NOT EXISTS datasets_fts_insert AFTER INSERT ON datasets BEGIN
        INSERT INTO datasets_fts(rowid, repo_id, pretty_name, keywords, description)
        VALUES (new.id, new.repo_id, new.pretty_name, new.keywords, new.description);
    END""",
    """CREATE TRIGGER IF NOT EXISTS datasets_fts_delete AFTER DELETE ON datasets BEGIN
        INSERT INTO datasets_fts(datasets_fts, rowid, repo_id, pretty_name, keywords, description)
        VALUES ('delete', old.id, old.repo_id, old.pretty_name, old.keywords, old.description);
    END""",
    """CREATE TRIGGER IF NOT EXISTS datasets_fts_update
        AFTER UPDATE OF repo_id, pretty_name, keywords, description ON datasets BEGIN
        INSERT INTO datasets_fts(datasets_fts, rowid, repo_id, pretty_name, keywords, description)
        VALUES ('delete', old.id, old.repo_id, old.pretty_name, old.keywords, old.description);
        INSERT INTO datasets_fts(rowid, repo_id, pretty_name, keywords, description)
        VALUES (new.id, new.repo_id, new.pretty_name, new.keywords, new.description);
    END""",
    # Index whatever rows already exist (a no-op on an empty table).
    "INSERT INTO datasets_fts(datasets_fts) VALUES ('rebuild')",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS datasets_fts_update",
    "DROP TRIGGER IF EXISTS datasets_fts_delete",
    "DROP TRIGGER IF EXISTS datasets_fts_insert",
    "DROP TABLE IF EXISTS datasets_fts",
]

POSTGRESQL_CREATE = [
    """ALTER TABLE datasets ADD COLUMN IF NOT EXISTS search_vector tsvector
        GENERATED ALWAYS AS (
            setweight(to_tsvector('english', translate(repo_id, '/_-.', '    ')), 'A') ||
            setweight(to_tsvector('english', coalesce(pretty_name, '')), 'A') ||
            setweight(to_tsvector('english', coalesce(keywords, '')), 'B') ||
            setweight(to_tsvector('english', coalesce(description, '')), 'C')
        ) STORED""",
    "CREATE INDEX IF NOT EXISTS ix_datasets_search_vector ON datasets USING gin (search_vector)",
]

POSTGRESQL_DROP = [
    "DROP INDEX IF EXISTS ix_datasets_search_vector",
    "ALTER TABLE datasets DROP COLUMN IF EXISTS search_vector",
]


def create_fulltext(op) -> None:
    statements = SQLITE_CREATE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_CREATE
    for statement in statements:
        op.execute(statement)


def drop_fulltext(op) -> None:
    statements = SQLITE_DROP if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_DROP
    for statement in statements:
        op.execute(statement)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Keep autogenerate (and `flask db check`) away from the objects the models omit."""
    if type_ == "table" and name.startswith("datasets_fts"):
        return False
    if type_ == "column" and name == "search_vector":
        return False
    # The search vector's GIN index and the sort indexes (migration 0005) use expressions
    # and NULLS ordering the models cannot state.
    return not (
        type_ == "index" and name.startswith(("ix_datasets_search_vector", "ix_datasets_sort_"))
    )
