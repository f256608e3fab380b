"""Writing dataset records into the mirror: one upsert that keeps facets and aliases in step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.catalog.records import DatasetRecord
from app.models import Dataset, DatasetAlias, DatasetFacet


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        return self


@dataclass(frozen=True)
class _Match:
    dataset_id: int
    repo_id: str  # the id the row keeps after the update


def upsert_records(session: Session, records: Sequence[DatasetRecord]) -> UpsertCounts:
    """Insert or update records matched by id or alias; the caller owns the transaction."""
    latest = {record.repo_id: record for record in records}  # a later line wins
    matches = _match_existing(session, list(latest.values()))

    updates: list[dict] = []
    inserts: list[dict] = []
    written: list[tuple[DatasetRecord, _Match | None]] = []
    claimed: set[int] = set()
    for record in latest.values():
        match = matches.get(record.repo_id)
        if match is None:
            inserts.append(record.column_values())
        elif match.dataset_id not in claimed:  # two names of one dataset in a batch: first wins
            claimed.add(match.dataset_id)
            updates.append(
                {**record.column_values(), "id": match.dataset_id, "repo_id": match.repo_id}
            )
        else:
            continue
        written.append((record, match))

    if updates:
        session.execute(update(Dataset), updates)
        session.execute(delete(DatasetFacet).where(DatasetFacet.dataset_id.in_(claimed)))
    new_ids: dict[str, int] = {}
    if inserts:
        rows = session.execute(insert(Dataset).returning(Dataset.id, Dataset.repo_id), inserts)
        new_ids = {repo_id: dataset_id for dataset_id, repo_id in rows}

    facet_rows: list[dict] = []
    alias_rows: list[dict] = []
    for record, match in written:
        dataset_id = match.dataset_id if match else new_ids[record.repo_id]
        facet_rows += [
            {"dataset_id": dataset_id, "facet": facet, "value": value}
            for facet, value in sorted(record.facet_pairs())
        ]
        names = set(record.aliases)
        if match and match.repo_id != record.repo_id:
            names.add(record.repo_id)  # arrived under an old name: remember it
        alias_rows += [{"alias": name, "dataset_id": dataset_id} for name in sorted(names)]
    if facet_rows:
        session.execute(insert(DatasetFacet), facet_rows)
    _add_aliases(session, alias_rows)
    return UpsertCounts(inserted=len(inserts), updated=len(updates))


def _match_existing(session: Session, records: list[DatasetRecord]) -> dict[str, _Match]:
    """Find the stored dataset each record names: by its id, or through an alias either way.

    A record arriving under an old name (`squad`) updates `rajpurkar/squad` and keeps that id;
    a record arriving under the new name with the old one as alias renames the row.
    """
    names = {r.repo_id for r in records} | {a for r in records for a in r.aliases}
    by_repo = dict(
        session.execute(select(Dataset.repo_id, Dataset.id).where(Dataset.repo_id.in_(names))).all()
    )
    by_alias = dict(
        session.execute(
            select(DatasetAlias.alias, DatasetAlias.dataset_id).where(DatasetAlias.alias.in_(names))
        ).all()
    )
    matches: dict[str, _Match] = {}
    for record in records:
        if record.repo_id in by_repo:
            matches[record.repo_id] = _Match(by_repo[record.repo_id], record.repo_id)
        elif record.repo_id in by_alias:
            dataset_id = by_alias[record.repo_id]
            current = session.scalar(select(Dataset.repo_id).where(Dataset.id == dataset_id))
            matches[record.repo_id] = _Match(dataset_id, current)
        else:
            for alias in record.aliases:
                dataset_id = by_repo.get(alias) or by_alias.get(alias)
                if dataset_id is not None:
                    matches[record.repo_id] = _Match(dataset_id, record.repo_id)
                    break
    return matches


def _add_aliases(session: Session, rows: list[dict]) -> None:
    """Record old names that are neither a known alias nor some dataset's current id."""
    wanted = {row["alias"]: row for row in rows}
    if not wanted:
        return
    taken = set(
        session.scalars(select(DatasetAlias.alias).where(DatasetAlias.alias.in_(wanted)))
    ) | set(session.scalars(select(Dataset.repo_id).where(Dataset.repo_id.in_(wanted))))
    fresh = [row for alias, row in wanted.items() if alias not in taken]
    if fresh:
        session.execute(insert(DatasetAlias), fresh)


def dataset_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Dataset)) or 0
