"""Fixtures for the operations tests: SQL statements counted per request, catalogs of any size,
followed datasets with history, combinations and a fitted topic map."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.catalog.importer import ImportSummary, import_records
from app.catalog.records import record_from_raw
from app.catalog.search import clear_search_cache
from app.extensions import db
from app.models import (
    ActiveCombination,
    Combination,
    CombinationMember,
    Dataset,
    DatasetChange,
    DatasetSnapshot,
    Follow,
)
from tests.conftest import Auth, create_user
from tests.hub.conftest import hub, hub_app, talking_to  # noqa: F401  (shared fixtures)
from tests.semantic.conftest import topic_embedder  # noqa: F401  (the real model, once a run)

TASKS = ["text-classification", "translation", "summarization", "question-answering"]
LICENSES = ["mit", "apache-2.0", "cc-by-4.0", "other"]
WORDS = ["reviews", "news", "medical", "legal", "speech", "images", "code", "chat", "math", "web"]


@dataclass
class Statements:
    """The SQL statements the app's engine sent to the database while counting."""

    log: list[str] = field(default_factory=list)
    active: bool = False

    def __len__(self) -> int:
        return len(self.log)

    def record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.active:
            self.log.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        """Collect the statements sent inside the block (a fresh list each time)."""
        self.log = []
        self.active = True
        try:
            yield self.log
        finally:
            self.active = False

    def during(self, action: Callable[[], object]) -> tuple[object, list[str]]:
        """(what `action` returned, the statements it sent)."""
        with self.counting() as log:
            result = action()
        return result, list(log)


@pytest.fixture
def sql(app) -> Iterator[Statements]:
    """Counts statements on the app's engine (SQLAlchemy's before_cursor_execute event)."""
    statements = Statements()
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", statements.record)
    yield statements
    sa.event.remove(engine, "before_cursor_execute", statements.record)


def raw_dataset(number: int, prefix: str = "bulk") -> dict:
    """A catalog record of the Hub's shape; the same number always gives the same record."""
    rng = random.Random(number)
    words = rng.sample(WORDS, 3)
    return {
        "id": f"{prefix}/set-{number:05d}",
        "pretty_name": f"{words[0].title()} set {number}",
        "description": f"A dataset of {' and '.join(words)} for testing, number {number}.",
        "task_categories": [TASKS[number % len(TASKS)]],
        "modalities": ["text"],
        "language": [["en", "fr", "de"][number % 3]],
        "license": LICENSES[number % len(LICENSES)],
        "size_categories": ["1K<n<10K"],
        "downloads": rng.randint(0, 100_000),
        "likes": rng.randint(0, 500),
        "trending_score": rng.random(),
        "created_at": "2022-01-01T00:00:00Z",
        "last_modified": (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=number)).isoformat(),
        "tags": words,
    }


def add_datasets(count: int, prefix: str = "bulk", start: int = 0) -> ImportSummary:
    """`count` generated datasets through the real importer."""
    numbered = [
        (number, record_from_raw(raw_dataset(number, prefix)))
        for number in range(start, start + count)
    ]
    summary = import_records(db.session, prefix, numbered, ImportSummary())
    clear_search_cache()
    return summary


def dataset_ids(limit: int | None = None) -> list[int]:
    statement = sa.select(Dataset.id).order_by(Dataset.id)
    if limit is not None:
        statement = statement.limit(limit)
    return list(db.session.scalars(statement))


def follow_with_history(user_id: int, ids: list[int], changes_each: int = 3) -> None:
    """The user follows these datasets, each freshly looked at and with a few commits."""
    now = datetime.now(UTC)
    for dataset_id in ids:
        db.session.add(
            Follow(
                user_id=user_id,
                dataset_id=dataset_id,
                created_at=now - timedelta(days=30),
                last_seen_at=now - timedelta(days=2),
            )
        )
        db.session.add(DatasetSnapshot(dataset_id=dataset_id, taken_at=now, sha="a" * 40))
        for step in range(changes_each):
            db.session.add(
                DatasetChange(
                    dataset_id=dataset_id,
                    happened_at=now - timedelta(days=step, minutes=dataset_id),
                    kind="commit",
                    summary=f"commit {step}",
                    sha=f"{dataset_id:020d}{step:020d}",
                    author="someone",
                )
            )
    db.session.commit()


def combination_of(user_id: int, ids: list[int], name: str = "Mix", active: bool = True) -> int:
    combination = Combination(user_id=user_id, name=name)
    combination.members = [CombinationMember(dataset_id=i) for i in ids]
    db.session.add(combination)
    db.session.flush()
    if active:
        db.session.merge(ActiveCombination(user_id=user_id, combination_id=combination.id))
    db.session.commit()
    return combination.id


@dataclass
class Person:
    user_id: int
    client: object


@pytest.fixture
def person(app) -> Person:
    """A signed-in person with their own client."""
    user = create_user("pat@example.com")
    client = app.test_client()
    response = Auth(client).login("pat@example.com")
    assert response.status_code == 303
    return Person(user.id, client)
