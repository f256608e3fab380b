"""Upgrades with data in the database: a database at each earlier migration, seeded through
plain inserts valid at that revision (datasets with aliases and facets, users, the Hub cache,
follows, snapshots and changes, combinations with members, embeddings, jobs and a topic model,
each from the revision that made its table), upgraded to head: every row is still there with
the same values, the foreign keys hold, and full-text search finds the seeded datasets.

Plain Alembic through Flask-Migrate (`upgrade(revision=...)`). SQLite: a new file per case.
PostgreSQL: a schema of its own per case in the test database (search_path), dropped after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app.catalog.search import SearchQuery, search
from app.config import TestConfig, normalise_database_url
from app.extensions import db
from tests.conftest import MIGRATIONS

VERSIONS = sorted(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("0*.py"))
HEAD = VERSIONS[-1]
EARLIER = VERSIONS[:-1]
WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def rows_at(revision: str) -> dict[str, list[dict]]:
    """Rows to insert at `revision`, table by table in dependency order, with only the columns
    that exist there (later columns are nullable or have defaults)."""
    seed: dict[str, list[dict]] = {}

    def since(first: str, table: str, rows: list[dict]) -> None:
        if revision >= first:
            seed[table] = rows

    def dataset(number: int, repo_id: str, description: str) -> dict:
        return dict(
            id=number, repo_id=repo_id, author=repo_id.split("/")[0], pretty_name=None,
            description=description, keywords="", tags=["upgrade"], task_categories=[],
            modalities=["text"], languages=["en"], license="mit", size_category="1K<n<10K",
            num_rows=1000 + number, num_bytes=None, downloads=10 * number, likes=number,
            trending_score=0.5, created_at=WHEN, last_modified=WHEN, gated=number == 3,
        )  # fmt: skip

    since("0001", "datasets", [
        dataset(1, "acme/film-critiques", "Critiques of films, each labelled by sentiment."),
        dataset(2, "acme/river-levels", "Hourly river levels from gauging stations."),
        dataset(3, "acme/bird-songs", "Recordings of bird songs with species labels."),
    ])  # fmt: skip
    since("0001", "dataset_aliases", [{"alias": "acme/old-critiques", "dataset_id": 1}])
    since("0001", "dataset_facets", [
        {"dataset_id": 1, "facet": "language", "value": "en"},
        {"dataset_id": 3, "facet": "modality", "value": "audio"},
    ])  # fmt: skip
    since("0002", "users", [
        dict(id=n, email=f"user{n}@example.com", email_key=f"user{n}@example.com",
             password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", session_version=1,
             created_at=WHEN)
        for n in (1, 2)
    ])  # fmt: skip
    since("0003", "hub_cache", [{"key": "detail:acme/film-critiques", "payload": '{"sha": null}',
                                "fetched_at": WHEN}])  # fmt: skip
    since("0003", "sync_state", [{"name": "catalog", "synced_until": WHEN}])
    since("0004", "follows", [
        dict(id=n, user_id=user, dataset_id=dataset, created_at=WHEN, last_seen_at=WHEN)
        for n, (user, dataset) in enumerate([(1, 1), (1, 2), (2, 1)], start=1)
    ])  # fmt: skip
    since("0006", "dataset_snapshots", [
        dict(id=1, dataset_id=1, taken_at=WHEN, sha="a" * 40, license="mit", num_rows=1001,
             num_bytes=None, downloads=10, likes=1, gated=False, card_hash=None)
    ])  # fmt: skip
    since("0006", "dataset_changes", [
        dict(id=1, dataset_id=1, happened_at=WHEN, kind="commit", summary="A new commit.",
             important=False, sha="a" * 40, author="someone")
    ])  # fmt: skip
    since("0007", "combinations", [
        dict(id=1, user_id=1, name="Mix", created_at=WHEN, updated_at=WHEN, share_token="t" * 32,
             mix_method="proportional", temperature=1.0, stopping_strategy="first_exhausted",
             seed=42)
    ])  # fmt: skip
    since("0007", "active_combinations", [{"user_id": 1, "combination_id": 1}])
    since("0007", "combination_members", [
        dict(combination_id=1, dataset_id=d, added_at=WHEN, weight=None, assessed_sha=None)
        for d in (1, 3)
    ])  # fmt: skip
    since("0008", "dataset_embeddings", [
        dict(dataset_id=1, model_id="test-model", text_hash="h" * 64, vector=b"\x00" * 16,
             dims=4, embedded_at=WHEN)
    ])  # fmt: skip
    since("0009", "jobs", [
        dict(id=1, kind="embed", status="done", params={}, done=3, total=3, message="Done.",
             result={"embedded": 3}, claimed_by="worker", created_at=WHEN, started_at=WHEN,
             finished_at=WHEN)
    ])  # fmt: skip
    since("0009", "topic_model_versions", [
        dict(id=1, model_id="test-model", created_at=WHEN, is_current=True, dataset_count=3,
             topic_count=1, params={"k": 1}, projection=None)
    ])  # fmt: skip
    since("0009", "topics", [
        dict(id=1, version_id=1, number=0, label="films", terms=["films"], size=3,
             central_dataset_ids=[1], centroid=b"\x00" * 16)
    ])  # fmt: skip
    since("0009", "dataset_topics", [
        dict(version_id=1, dataset_id=d, topic_id=1, x=0.0, y=0.0) for d in (1, 2, 3)
    ])  # fmt: skip
    return seed


def read(connection: sa.Connection, seed: dict[str, list[dict]]) -> dict[str, list[tuple]]:
    """The seeded columns of every seeded table, in a stable order."""
    metadata = sa.MetaData()
    found = {}
    for name, rows in seed.items():
        table = sa.Table(name, metadata, autoload_with=connection)
        columns = [table.c[column] for column in rows[0]]
        ordered = sa.select(*columns).order_by(*columns[:2])
        found[name] = [tuple(row) for row in connection.execute(ordered)]
    return found


@pytest.fixture
def database_at(tmp_path: Path, make_app) -> Iterator:
    """Make an app whose database is new and empty, for one upgrade."""
    base = os.environ.get("TEST_DATABASE_URL")
    schemas: list[str] = []

    def make(name: str):
        if not base:
            return make_app(TestConfig(f"sqlite:///{tmp_path / f'{name}.db'}"))
        schema = f"upgrade_{name}"
        engine = sa.create_engine(normalise_database_url(base))
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        schemas.append(schema)
        config = TestConfig(base)
        config.SQLALCHEMY_ENGINE_OPTIONS = {
            "pool_pre_ping": True,
            "connect_args": {"options": f"-csearch_path={schema}"},
        }
        return make_app(config)

    yield make
    if schemas:
        engine = sa.create_engine(normalise_database_url(base))
        with engine.begin() as connection:
            for schema in schemas:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.mark.parametrize("revision", EARLIER)
def test_an_upgrade_to_head_keeps_every_row(database_at, revision):
    application = database_at(revision)
    seed = rows_at(revision)
    with application.app_context():
        upgrade(directory=str(MIGRATIONS), revision=revision)
        with db.engine.begin() as connection:
            metadata = sa.MetaData()
            for name, rows in seed.items():
                table = sa.Table(name, metadata, autoload_with=connection)
                connection.execute(table.insert(), rows)
            before = read(connection, seed)
        db.engine.dispose()  # the upgrade starts from connections of its own

        upgrade(directory=str(MIGRATIONS))

        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
                (HEAD,)
            ]
            assert read(connection, seed) == before
            if connection.dialect.name == "sqlite":
                assert connection.execute(sa.text("PRAGMA foreign_key_check")).all() == []
                assert connection.execute(sa.text("PRAGMA integrity_check")).all() == [("ok",)]
        found = search(db.session, SearchQuery(text="critiques", sort="relevance"))
        assert [d.repo_id for d in found.datasets] == ["acme/film-critiques"]
        db.session.remove()
