"""Combinations: a person's named selections of datasets, and which one is active.

Every function takes the owner's id and finds nothing that belongs to someone else, so a
view that forgets a check still cannot reach another person's combination.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.models import ActiveCombination, Combination, CombinationMember, Dataset, utcnow

MAX_MEMBERS = 50
NAME_MAX = 100
DEFAULT_NAME = "My combination"


class CombinationError(Exception):
    """Something the person asked for that cannot be done; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def clean_name(raw: str | None) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise CombinationError("Give the combination a name.")
    if len(name) > NAME_MAX:
        raise CombinationError(f"Keep the name to {NAME_MAX} characters (it has {len(name)}).")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise CombinationError("The name cannot contain control characters.")
    return name


def owned(session: Session, user_id: int, combination_id: int) -> Combination | None:
    return session.scalar(
        select(Combination)
        .where(Combination.id == combination_id, Combination.user_id == user_id)
        .options(selectinload(Combination.members).selectinload(CombinationMember.dataset))
    )


def shared(session: Session, token: str) -> Combination | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(
        select(Combination)
        .where(Combination.share_token == token)
        .options(selectinload(Combination.members).selectinload(CombinationMember.dataset))
    )


@dataclass(frozen=True)
class CombinationSummary:
    combination: Combination
    member_count: int
    active: bool


def combinations_of(session: Session, user_id: int) -> list[CombinationSummary]:
    counts = (  # this user's combinations only: not a count of every member in the database
        select(CombinationMember.combination_id, func.count().label("n"))
        .join(Combination, Combination.id == CombinationMember.combination_id)
        .where(Combination.user_id == user_id)
        .group_by(CombinationMember.combination_id)
        .subquery()
    )
    rows = session.execute(
        select(Combination, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.combination_id == Combination.id)
        .where(Combination.user_id == user_id)
        .order_by(Combination.updated_at.desc(), Combination.id.desc())
    ).all()
    active_id = active_id_of(session, user_id)
    return [CombinationSummary(c, n, c.id == active_id) for c, n in rows]


def active_id_of(session: Session, user_id: int) -> int | None:
    return session.scalar(
        select(ActiveCombination.combination_id).where(ActiveCombination.user_id == user_id)
    )


def active_of(session: Session, user_id: int) -> Combination | None:
    active_id = active_id_of(session, user_id)
    return owned(session, user_id, active_id) if active_id else None


def _name_taken(session: Session, user_id: int, name: str, except_id: int | None = None) -> bool:
    statement = select(Combination.id).where(
        # lower() on both sides: SQLite's lower() folds ASCII only, Python's folds all of Unicode.
        Combination.user_id == user_id,
        func.lower(Combination.name) == func.lower(name),
    )
    if except_id is not None:
        statement = statement.where(Combination.id != except_id)
    return session.scalar(statement) is not None


def free_name(session: Session, user_id: int, wanted: str) -> str:
    """`wanted`, or "wanted (2)", "wanted (3)"… whichever is free."""
    name, number = wanted, 1
    while _name_taken(session, user_id, name):
        number += 1
        suffix = f" ({number})"
        name = wanted[: NAME_MAX - len(suffix)] + suffix
    return name


def _commit_name(session: Session, name: str) -> None:
    try:
        session.commit()
    except IntegrityError:  # the same name committed by a parallel request
        session.rollback()
        raise CombinationError(f"You already have a combination called “{name}”.", 409) from None


def create(
    session: Session, user_id: int, raw_name: str | None, activate: bool = True
) -> Combination:
    name = clean_name(raw_name)
    if _name_taken(session, user_id, name):
        raise CombinationError(f"You already have a combination called “{name}”.", 409)
    combination = Combination(user_id=user_id, name=name)
    session.add(combination)
    session.flush()
    if activate:
        _set_active(session, user_id, combination.id)
    _commit_name(session, name)
    return combination


def rename(session: Session, combination: Combination, raw_name: str | None) -> None:
    name = clean_name(raw_name)
    if _name_taken(session, combination.user_id, name, except_id=combination.id):
        raise CombinationError(f"You already have a combination called “{name}”.", 409)
    combination.name = name
    combination.updated_at = utcnow()
    _commit_name(session, name)


def duplicate(session: Session, combination: Combination) -> Combination:
    copy = Combination(
        user_id=combination.user_id,
        name=free_name(session, combination.user_id, f"{combination.name} (copy)"),
        mix_method=combination.mix_method,
        temperature=combination.temperature,
        stopping_strategy=combination.stopping_strategy,
        seed=combination.seed,
    )
    copy.members = [
        CombinationMember(
            dataset_id=m.dataset_id,
            added_at=m.added_at,
            weight=m.weight,
            assessed_sha=m.assessed_sha,
        )
        for m in combination.members
    ]
    session.add(copy)
    _commit_name(session, copy.name)
    return copy


def delete_combination(session: Session, combination: Combination) -> None:
    """Delete it; if it was the active one, the most recently changed other becomes active."""
    user_id = combination.user_id
    was_active = active_id_of(session, user_id) == combination.id
    session.delete(combination)
    session.flush()
    if was_active:
        successor = session.scalar(
            select(Combination.id)
            .where(Combination.user_id == user_id)
            .order_by(Combination.updated_at.desc(), Combination.id.desc())
            .limit(1)
        )
        if successor is not None:
            _set_active(session, user_id, successor)
    session.commit()


def activate(session: Session, combination: Combination) -> None:
    _set_active(session, combination.user_id, combination.id)
    session.commit()


def _set_active(session: Session, user_id: int, combination_id: int) -> None:
    current = session.get(ActiveCombination, user_id)
    if current is None:
        session.add(ActiveCombination(user_id=user_id, combination_id=combination_id))
    else:
        current.combination_id = combination_id
    session.flush()


def active_or_new(session: Session, user_id: int) -> Combination:
    """The combination that "Add" adds to: the active one, or a new one made for it."""
    combination = active_of(session, user_id)
    if combination is not None:
        return combination
    latest = session.scalar(
        select(Combination)
        .where(Combination.user_id == user_id)
        .order_by(Combination.updated_at.desc(), Combination.id.desc())
        .limit(1)
    )
    if latest is not None:
        activate(session, latest)
        return latest
    try:
        return create(session, user_id, free_name(session, user_id, DEFAULT_NAME))
    except CombinationError:  # made by a parallel first click
        return active_or_new(session, user_id)


def member_ids(session: Session, combination_id: int | None) -> set[int]:
    if combination_id is None:
        return set()
    return set(
        session.scalars(
            select(CombinationMember.dataset_id).where(
                CombinationMember.combination_id == combination_id
            )
        )
    )


def set_member(session: Session, combination: Combination, dataset: Dataset, present: bool) -> bool:
    """Make the dataset be in the combination or not; True when something changed.

    The limit holds under concurrent adds: PostgreSQL locks the combination's row first, and
    SQLite (one writer at a time) counts again inside the write before committing."""
    combination_id = combination.id
    if not present:
        result = session.execute(
            delete(CombinationMember).where(
                CombinationMember.combination_id == combination_id,
                CombinationMember.dataset_id == dataset.id,
            )
        )
        if result.rowcount:
            _touch(session, combination_id)
        session.commit()
        session.expire(combination, ["members"])
        return bool(result.rowcount)

    session.execute(
        select(Combination.id).where(Combination.id == combination_id).with_for_update()
    )
    if dataset.id in member_ids(session, combination_id):
        session.commit()
        return False
    session.add(CombinationMember(combination_id=combination_id, dataset_id=dataset.id))
    try:
        session.flush()
    except IntegrityError:  # added by a parallel click: already done
        session.rollback()
        return False
    if _member_count(session, combination_id) > MAX_MEMBERS:
        session.rollback()
        raise CombinationError(
            f"A combination holds at most {MAX_MEMBERS} datasets; remove one to add "
            f"{dataset.repo_id}, or start another combination.",
            409,
        )
    _touch(session, combination_id)
    session.commit()
    session.expire(combination, ["members"])
    return True


def _member_count(session: Session, combination_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(CombinationMember.combination_id == combination_id)
        )
        or 0
    )


def _touch(session: Session, combination_id: int) -> None:
    combination = session.get(Combination, combination_id)
    if combination is not None:
        combination.updated_at = utcnow()


def share(session: Session, combination: Combination) -> str:
    """The read-only link's secret, made on first use and kept until revoked."""
    if not combination.share_token:
        combination.share_token = secrets.token_urlsafe(24)
        session.commit()
    return combination.share_token


def revoke_share(session: Session, combination: Combination) -> None:
    combination.share_token = None
    session.commit()
