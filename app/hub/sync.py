"""Keep the catalog mirror current from the Hub: incremental, resumable, in batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.catalog.store import UpsertCounts, upsert_records
from app.hub.client import HubClient
from app.models import SyncState

STATE_NAME = "catalog"


@dataclass
class SyncSummary:
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    failed: list[tuple[str | None, str]] = field(default_factory=list)
    seen: int = 0
    resumed: bool = False
    complete: bool = False

    def __str__(self) -> str:
        counts = self.counts
        return (
            f"{counts.inserted} added, {counts.updated} updated, {counts.unchanged} unchanged, "
            f"{len(self.failed)} failed"
        )


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def sync_state(session: Session) -> SyncState:
    state = session.get(SyncState, STATE_NAME)
    if state is None:
        state = SyncState(name=STATE_NAME)
        session.add(state)
        session.commit()
    return state


def sync_catalog(
    session: Session,
    client: HubClient,
    *,
    limit: int | None = None,
    since: datetime | None = None,
    full: bool = False,
    page_size: int = 100,
    on_progress: Callable[[int], None] | None = None,
) -> SyncSummary:
    """Pull datasets modified since the last complete sync (or `since`, or all with `full`).

    Pages come newest first; each page is one transaction, after which the next page's URL is
    saved, so an interrupted run continues where it stopped. Only a run that reaches its
    lower bound moves `synced_until` forward.
    """
    state = sync_state(session)
    summary = SyncSummary()
    if state.resume_url and not full and since is None:
        summary.resumed = True
        stops_at, newest = _aware(state.run_stops_at), _aware(state.run_newest)
        pages = client.dataset_pages(start_url=state.resume_url)
    else:
        stops_at = None if full else (since or _aware(state.synced_until))
        newest = None
        pages = client.dataset_pages(sort="lastModified", page_size=page_size)

    for page in pages:
        records = []
        reached_bound = False
        for record in page.records:
            modified = _aware(record.last_modified)
            if stops_at and modified and modified <= stops_at:
                reached_bound = True  # newest first: everything after this is older
                break
            if modified and (newest is None or modified > newest):
                newest = modified
            records.append(record)
        truncated = limit is not None and len(records) > limit - summary.seen
        if truncated:
            records = records[: max(0, limit - summary.seen)]
        summary.failed += page.bad
        try:
            summary.counts += upsert_records(session, records)
            session.commit()
        except SQLAlchemyError as error:
            session.rollback()
            summary.failed += [(r.repo_id, f"not stored: {type(error).__name__}") for r in records]
        summary.seen += len(records)
        if on_progress:
            on_progress(summary.seen)
        done = (reached_bound or page.next_url is None) and not truncated
        if done:
            state.synced_until = newest or state.synced_until
            state.resume_url = state.run_stops_at = state.run_newest = None
            state.finished_at = datetime.now(UTC)
            session.commit()
            summary.complete = True
            return summary
        if not truncated:  # a page cut short by --limit is fetched again next time
            state.resume_url = page.next_url
            state.run_stops_at, state.run_newest = stops_at, newest
            session.commit()
        if limit is not None and summary.seen >= limit:
            return summary
    return summary
