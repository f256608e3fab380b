"""The timeline of changes across a person's followed datasets."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import groupby

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, joinedload

from app.models import DatasetChange, Follow, User

PER_PAGE = 30


@dataclass(frozen=True)
class FeedEntry:
    change: DatasetChange
    new: bool  # after the person last marked this dataset as seen


@dataclass(frozen=True)
class FeedPage:
    days: list[tuple[date, list[FeedEntry]]]
    page: int
    has_next: bool

    @property
    def empty(self) -> bool:
        return not self.days


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def feed_page(session: Session, user_id: int, page: int = 1, per_page: int = PER_PAGE) -> FeedPage:
    """Changes of the user's datasets since each was followed, newest first, by day."""
    rows = session.execute(
        select(DatasetChange, Follow.last_seen_at)
        .join(
            Follow, and_(Follow.dataset_id == DatasetChange.dataset_id, Follow.user_id == user_id)
        )
        .where(DatasetChange.happened_at >= Follow.created_at)  # not others' older history
        .options(joinedload(DatasetChange.dataset, innerjoin=True))  # shown on every entry
        .order_by(DatasetChange.happened_at.desc(), DatasetChange.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    ).all()
    entries = [
        FeedEntry(change, _aware(change.happened_at) > _aware(seen))
        for change, seen in rows[:per_page]
    ]
    days = [
        (day, list(group))
        for day, group in groupby(entries, key=lambda e: _aware(e.change.happened_at).date())
    ]
    return FeedPage(days=days, page=page, has_next=len(rows) > per_page)


def new_commit_counts(session: Session, user_id: int) -> dict[int, int]:
    """Per followed dataset: commits since the user last looked."""
    rows = session.execute(
        select(DatasetChange.dataset_id, func.count(DatasetChange.id))
        .join(
            Follow, and_(Follow.dataset_id == DatasetChange.dataset_id, Follow.user_id == user_id)
        )
        .where(DatasetChange.kind == "commit", DatasetChange.happened_at > Follow.last_seen_at)
        .group_by(DatasetChange.dataset_id)
    )
    return dict(rows.all())


def last_commits(session: Session, dataset_ids: list[int]) -> dict[int, DatasetChange]:
    """The newest recorded commit of each dataset."""
    newest = (
        select(DatasetChange.dataset_id, func.max(DatasetChange.happened_at).label("at"))
        .where(DatasetChange.kind == "commit", DatasetChange.dataset_id.in_(dataset_ids))
        .group_by(DatasetChange.dataset_id)
        .subquery()
    )
    rows = session.scalars(
        select(DatasetChange).join(
            newest,
            and_(
                DatasetChange.dataset_id == newest.c.dataset_id,
                DatasetChange.happened_at == newest.c.at,
            ),
        )
    )
    return {change.dataset_id: change for change in rows}


def mark_seen(session: Session, user_id: int, dataset_id: int | None = None) -> None:
    """Everything up to now counts as seen: for one followed dataset, or for all of them."""
    statement = (
        update(Follow).where(Follow.user_id == user_id).values(last_seen_at=datetime.now(UTC))
    )
    if dataset_id is not None:
        statement = statement.where(Follow.dataset_id == dataset_id)
    session.execute(statement)
    session.commit()


def feed_token(session: Session, user: User, regenerate: bool = False) -> str:
    """The secret in the user's Atom feed URL, made on first use; a new one kills the old URL."""
    if user.feed_token is None or regenerate:
        user.feed_token = secrets.token_urlsafe(32)
        session.commit()
    return user.feed_token


def user_for_feed_token(session: Session, token: str) -> User | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(select(User).where(User.feed_token == token))
