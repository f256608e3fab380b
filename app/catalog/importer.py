"""Import JSON Lines catalog files into the mirror, in committed batches."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.catalog.records import DatasetRecord, RecordError, record_from_raw
from app.catalog.store import UpsertCounts, dataset_count, upsert_records

BATCH_SIZE = 500
STARTER_CATALOG = "starter_catalog.jsonl"


@dataclass(frozen=True)
class LineProblem:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class ImportSummary:
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    problems: list[LineProblem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def __str__(self) -> str:
        counts = self.counts
        return (
            f"{counts.inserted} added, {counts.updated} updated, "
            f"{counts.unchanged} unchanged, {self.skipped} skipped"
        )


def read_records(
    source: str, stream: IO[str], problems: list[LineProblem]
) -> Iterator[tuple[int, DatasetRecord]]:
    """Yield (line number, record); a line that is not a dataset is noted and skipped."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield number, record_from_raw(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(source, number, f"not valid JSON ({exc.msg})"))
        except RecordError as exc:
            problems.append(LineProblem(source, number, str(exc)))


def import_records(
    session: Session,
    source: str,
    numbered_records: Iterable[tuple[int, DatasetRecord]],
    summary: ImportSummary,
    on_batch: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Upsert in batches, each its own transaction, so a failure loses at most its own batch."""
    batch: list[tuple[int, DatasetRecord]] = []
    for item in numbered_records:
        batch.append(item)
        if len(batch) >= BATCH_SIZE:
            _commit_batch(session, source, batch, summary)
            if on_batch:
                on_batch(batch[-1][0])
            batch = []
    if batch:
        _commit_batch(session, source, batch, summary)
        if on_batch:
            on_batch(batch[-1][0])
    return summary


def _commit_batch(
    session: Session,
    source: str,
    batch: list[tuple[int, DatasetRecord]],
    summary: ImportSummary,
) -> None:
    try:
        summary.counts += upsert_records(session, [record for _, record in batch])
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        # Find the line the database refused, keep the others.
        for number, record in batch:
            try:
                summary.counts += upsert_records(session, [record])
                session.commit()
            except SQLAlchemyError as exc:
                session.rollback()
                reason = str(exc.orig if hasattr(exc, "orig") else exc).splitlines()[0]
                summary.problems.append(LineProblem(source, number, f"refused: {reason[:200]}"))


def import_file(
    session: Session, path: Path, on_progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """Import one JSON Lines file; `on_progress` receives the last line number written."""
    summary = ImportSummary()
    with path.open(encoding="utf-8", errors="replace") as stream:
        records = read_records(str(path), stream, summary.problems)
        import_records(session, str(path), records, summary, on_progress)
    return summary


def starter_catalog_path() -> Path:
    return Path(str(resources.files("app.catalog").joinpath("data", STARTER_CATALOG)))


def load_starter_catalog(session: Session) -> ImportSummary | None:
    """Load the shipped catalog into an empty mirror; a mirror with data is left alone."""
    if dataset_count(session) > 0:
        return None
    return import_file(session, starter_catalog_path())
