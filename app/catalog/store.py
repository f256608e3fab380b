"""Writing dataset records into the mirror: one upsert that keeps facets and aliases in step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.catalog.records import DatasetRecord, keywords_for
from app.models import Dataset, DatasetAlias, DatasetFacet, SyncState

# The catalog's version: the `finished_at` of this `sync_state` row is the moment of the last
# write that changed what search finds or counts, strictly increasing. Search keeps counts and
# result pages per version (app.catalog.search), so every such write must bump it, and stamp the
# rows it changed with the new version in `datasets.changed_at` (upsert_records and mark_changed
# do both): the in-memory search index (app.catalog.catalog_index) reads only rows changed since
# its own version.
CATALOG_VERSION = "catalog-version"
# PostgreSQL: NOTIFY on this channel with every version bump (app.catalog.index_upkeep listens).
CATALOG_CHANNEL = "catalog_changed"
# In session.info until the write commits: the in-process wake-up of app.catalog.index_upkeep.
CATALOG_BUMPED = "catalog_version_bumped"

# Columns where an incoming "unknown" (None, "" or []) keeps what the mirror already knows:
# a Hub list item without a card summary must not wipe the description we have.
KEEP_WHEN_UNKNOWN = (
    "author", "pretty_name", "description", "keywords", "tags", "task_categories", "modalities",
    "languages", "license", "size_category", "num_rows", "num_bytes", "downloads", "likes",
    "trending_score", "created_at", "last_modified",
)  # fmt: skip


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


@dataclass(frozen=True)
class _Match:
    dataset_id: int
    repo_id: str  # the id the row keeps after the update


def upsert_records(session: Session, records: Sequence[DatasetRecord]) -> UpsertCounts:
    """Insert or update records matched by id or alias; the caller owns the transaction."""
    latest = {record.repo_id: record for record in records}  # a later line wins
    matches = _match_existing(session, list(latest.values()))

    current = _current_values({m.dataset_id for m in matches.values()}, session)
    updates: list[dict] = []
    inserts: list[dict] = []
    written: list[tuple[DatasetRecord, _Match | None]] = []
    claimed: set[int] = set()
    unchanged = 0
    for record in latest.values():
        match = matches.get(record.repo_id)
        if match is None:
            inserts.append(record.column_values())
            written.append((record, None))
            continue
        if match.dataset_id in claimed:  # two names of one dataset in a batch: first wins
            continue
        claimed.add(match.dataset_id)
        before = current[match.dataset_id]
        after = _merge(before, {**record.column_values(), "repo_id": match.repo_id})
        if after == before:
            unchanged += 1
            _add_aliases(session, _alias_rows(record, match))
            continue
        updates.append({**after, "id": match.dataset_id})
        written.append((_with_values(record, after), match))

    if inserts or updates:  # aliases alone change nothing that search finds or counts
        # Stamped with the new version: the search index reads only rows changed since its own.
        version = bump_catalog_version(session)
        for values in (*inserts, *updates):
            values["changed_at"] = version
    if updates:
        session.execute(update(Dataset), updates)
        changed_ids = [u["id"] for u in updates]
        session.execute(delete(DatasetFacet).where(DatasetFacet.dataset_id.in_(changed_ids)))
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
        alias_rows += _alias_rows(record, match, dataset_id)
    if facet_rows:
        session.execute(insert(DatasetFacet), facet_rows)
    _add_aliases(session, alias_rows)
    return UpsertCounts(inserted=len(inserts), updated=len(updates), unchanged=unchanged)


def _current_values(ids: set[int], session: Session) -> dict[int, dict]:
    if not ids:
        return {}
    columns = [getattr(Dataset, name) for name in DatasetRecord.COLUMNS]
    rows = session.execute(select(Dataset.id, *columns).where(Dataset.id.in_(ids)))
    return {row[0]: dict(zip(DatasetRecord.COLUMNS, row[1:], strict=True)) for row in rows}


def _merge(before: dict, incoming: dict) -> dict:
    merged = dict(incoming)
    for name in KEEP_WHEN_UNKNOWN:
        if incoming[name] in (None, "", []) and before[name] not in (None, "", []):
            merged[name] = before[name]
    merged["keywords"] = keywords_for(merged["tags"], merged["task_categories"])
    for name in ("created_at", "last_modified"):  # SQLite hands back naive UTC datetimes
        merged[name] = _aware(merged[name])
        before[name] = _aware(before[name])
    return merged


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _with_values(record: DatasetRecord, values: dict) -> DatasetRecord:
    """The record as stored after merging, so its facets match the row."""
    fields = {k: v for k, v in values.items() if k not in ("keywords", "repo_id")}
    return replace(record, **fields)


def _alias_rows(
    record: DatasetRecord, match: _Match | None, dataset_id: int | None = None
) -> list[dict]:
    target = dataset_id if dataset_id is not None else match.dataset_id if match else None
    names = set(record.aliases)
    if match and match.repo_id != record.repo_id:
        names.add(record.repo_id)  # arrived under an old name: remember it
    return [{"alias": name, "dataset_id": target} for name in sorted(names)]


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


def mark_changed(session: Session, dataset_ids: Sequence[int]) -> None:
    """After changing datasets' rows by hand (not through upsert_records): a new catalog version,
    and the rows stamped with it so the search index reads them again."""
    if not dataset_ids:
        return
    version = bump_catalog_version(session)
    session.execute(
        update(Dataset)
        .where(Dataset.id.in_(dataset_ids))
        .values(changed_at=version)
        .execution_options(synchronize_session=False)
    )


def bump_catalog_version(session: Session) -> datetime:
    """Mark the catalog as changed, in the caller's transaction (readers see both or neither).

    The new version is the current time, or one microsecond past the stored one if that is not
    earlier (two writes in one microsecond, a clock set back): it never repeats. PostgreSQL locks
    the row until the transaction ends, so concurrent writers bump one after the other.
    """
    insert_row = (postgresql if _is_postgresql(session) else sqlite).insert(SyncState)
    session.execute(insert_row.values(name=CATALOG_VERSION).on_conflict_do_nothing())
    stored = session.scalar(
        select(SyncState.finished_at).where(SyncState.name == CATALOG_VERSION).with_for_update()
    )
    version = datetime.now(UTC)
    stored = _aware(stored)
    if stored is not None and version <= stored:
        version = stored + timedelta(microseconds=1)
    session.execute(
        update(SyncState)
        .where(SyncState.name == CATALOG_VERSION)
        .values(finished_at=version)
        .execution_options(synchronize_session=False)
    )
    if _is_postgresql(session):  # delivered at commit, to every worker's index upkeep
        session.execute(select(func.pg_notify(CATALOG_CHANNEL, "")))
    session.info[CATALOG_BUMPED] = True
    return version


def catalog_version(session: Session) -> datetime | None:
    """The version bump_catalog_version last wrote; None before the first catalog write."""
    return session.scalar(select(SyncState.finished_at).where(SyncState.name == CATALOG_VERSION))


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def dataset_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Dataset)) or 0


def refresh_statistics(session: Session) -> None:
    """After a bulk load: without statistics the planner scans a facet instead of the matches."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE datasets"))
        session.execute(text("ANALYZE dataset_facets"))
    else:
        session.execute(text("ANALYZE"))
    session.commit()
