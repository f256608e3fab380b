"""Look at followed datasets on the Hub again and record what changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.catalog.store import upsert_records
from app.follows.changes import Facts, card_hash, detect_changes
from app.hub.client import HubClient
from app.hub.errors import HubError, HubGated, HubRateLimited
from app.models import Dataset, DatasetChange, DatasetSnapshot, Follow


@dataclass
class RefreshSummary:
    refreshed: int = 0
    changes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    stopped_early: str | None = None  # why, when the Hub asked us to wait


def latest_snapshot(session: Session, dataset_id: int) -> DatasetSnapshot | None:
    return session.scalar(
        select(DatasetSnapshot)
        .where(DatasetSnapshot.dataset_id == dataset_id)
        .order_by(DatasetSnapshot.taken_at.desc(), DatasetSnapshot.id.desc())
        .limit(1)
    )


def facts_of(snapshot: DatasetSnapshot) -> Facts:
    return Facts(
        snapshot.sha, snapshot.license, snapshot.num_rows, snapshot.num_bytes,
        snapshot.downloads, snapshot.likes, snapshot.gated, snapshot.card_hash,
    )  # fmt: skip


def refresh_dataset(session: Session, client: HubClient, dataset: Dataset) -> int:
    """Fetch, compare with the last snapshot, store the new one and the changes; one transaction.

    Raises HubError before anything is written when the Hub cannot answer.
    """
    detail = client.dataset(dataset.repo_id)
    try:
        card_text = client.card(dataset.repo_id)
    except HubGated:
        card_text = None  # a gated card is not ours to read: no card changes then

    history = client.commits(dataset.repo_id, page=0, per_page=50)
    now = datetime.now(UTC)
    upsert_records(session, [detail.record])
    session.refresh(dataset)
    after = Facts(
        sha=detail.sha, license=dataset.license, num_rows=dataset.num_rows,
        num_bytes=dataset.num_bytes, downloads=dataset.downloads, likes=dataset.likes,
        gated=bool(detail.gated), card_hash=card_hash(card_text),
    )  # fmt: skip
    previous = latest_snapshot(session, dataset.id)
    changes = detect_changes(facts_of(previous) if previous else None, after, history.commits, now)
    session.add(DatasetSnapshot(dataset_id=dataset.id, taken_at=now, **after.__dict__))
    session.add_all(
        DatasetChange(
            dataset_id=dataset.id,
            happened_at=change.happened_at,
            kind=change.kind,
            summary=change.summary,
            important=change.important,
            sha=change.sha,
            author=change.author,
        )  # fmt: skip
        for change in changes
    )
    session.commit()
    return len(changes)


def followed_datasets(
    session: Session, stale_before: datetime | None = None, user_id: int | None = None
) -> list[Dataset]:
    """Every dataset somebody (or `user_id`) follows, once each; optionally only those not
    looked at since `stale_before`."""
    followers = select(Follow.dataset_id)
    if user_id is not None:
        followers = followers.where(Follow.user_id == user_id)
    statement = select(Dataset).where(Dataset.id.in_(followers)).order_by(Dataset.id)
    if stale_before is not None:
        last_look = (
            select(func.max(DatasetSnapshot.taken_at))
            .where(DatasetSnapshot.dataset_id == Dataset.id)
            .scalar_subquery()
        )
        statement = statement.where((last_look.is_(None)) | (last_look < stale_before))
    return list(session.scalars(statement))


def refresh_followed(
    session: Session,
    client: HubClient,
    datasets: list[Dataset] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RefreshSummary:
    """Refresh each followed dataset once, however many people follow it."""
    summary = RefreshSummary()
    for dataset in datasets if datasets is not None else followed_datasets(session):
        try:
            summary.changes += refresh_dataset(session, client, dataset)
            summary.refreshed += 1
        except HubRateLimited as error:
            session.rollback()
            summary.stopped_early = str(error)
            break  # the client will not call again before the Hub's wait is over
        except HubError as error:
            session.rollback()
            summary.failed.append((dataset.repo_id, str(error)))
        if on_progress:
            on_progress(summary.refreshed + len(summary.failed))
    return summary


def refresh_stale_followed(
    session: Session, client: HubClient, user_id: int, max_age: timedelta, limit: int = 3
) -> None:
    """On viewing /following or /feed: look again at a few of the user's stale datasets."""
    stale = followed_datasets(session, datetime.now(UTC) - max_age, user_id)
    refresh_followed(session, client, stale[:limit])
