"""Following datasets: idempotent changes, counts, and the list of what a person follows."""

from __future__ import annotations

from sqlalchemy import case, delete, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager

from app.models import Dataset, DatasetChange, DatasetSnapshot, Follow

FOLLOWING_SORTS = {
    "changed": "Recently changed",
    "name": "Name",
    "followed": "Recently followed",
}


def set_following(session: Session, user_id: int, dataset_id: int, follow: bool) -> bool:
    """Make the follow exist or not; True when something changed. Replays change nothing."""
    if not follow:
        result = session.execute(
            delete(Follow).where(Follow.user_id == user_id, Follow.dataset_id == dataset_id)
        )
        forget_unfollowed_history(session)
        session.commit()
        return bool(result.rowcount)
    if is_following(session, user_id, dataset_id):
        return False
    session.add(Follow(user_id=user_id, dataset_id=dataset_id))
    try:
        session.commit()
    except IntegrityError:  # a second click that arrived at the same moment: already done
        session.rollback()
        return False
    return True


def is_following(session: Session, user_id: int, dataset_id: int) -> bool:
    found = session.scalar(
        select(Follow.id).where(Follow.user_id == user_id, Follow.dataset_id == dataset_id)
    )
    return found is not None


def follows_on_page(
    session: Session, user_id: int | None, dataset_ids: list[int]
) -> tuple[set[int], dict[int, int]]:
    """For a page of results, in one query: which of its datasets the user follows (none when
    signed out) and how many followers each has."""
    if not dataset_ids:
        return set(), {}
    mine = (
        func.max(case((Follow.user_id == user_id, 1), else_=0))
        if user_id is not None
        else literal(0)
    )
    rows = session.execute(
        select(Follow.dataset_id, func.count(Follow.id), mine)
        .where(Follow.dataset_id.in_(dataset_ids))
        .group_by(Follow.dataset_id)
    ).all()
    return {dataset_id for dataset_id, _, followed in rows if followed}, {
        dataset_id: count for dataset_id, count, _ in rows
    }


def follower_count(session: Session, dataset_id: int) -> int:
    return session.scalar(select(func.count(Follow.id)).where(Follow.dataset_id == dataset_id)) or 0


def following_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count(Follow.id)).where(Follow.user_id == user_id)) or 0


def following(session: Session, user_id: int, sort: str = "changed") -> list[Follow]:
    """The user's follows with their datasets, in the order asked for."""
    order = {
        "changed": (Dataset.last_modified.desc().nulls_last(), func.lower(Dataset.repo_id)),
        "name": (func.lower(Dataset.repo_id),),
        "followed": (Follow.created_at.desc(), Follow.id.desc()),
    }[sort if sort in FOLLOWING_SORTS else "changed"]
    statement = (
        select(Follow)
        .join(Dataset, Dataset.id == Follow.dataset_id)
        .where(Follow.user_id == user_id)
        .options(contains_eager(Follow.dataset))  # the page shows each dataset: no query per row
        .order_by(*order)
    )
    return list(session.scalars(statement))


def forget_unfollowed_history(session: Session) -> None:
    """Snapshots and changes of datasets nobody follows any more are nobody's to keep.

    The caller commits (with the unfollow or account deletion that made them orphans).
    """
    followed = select(Follow.dataset_id)
    session.execute(delete(DatasetSnapshot).where(DatasetSnapshot.dataset_id.not_in(followed)))
    session.execute(delete(DatasetChange).where(DatasetChange.dataset_id.not_in(followed)))
