"""Accounts: register, authenticate, change and delete. No request, no templates."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.passwords import (
    dummy_hash,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from app.models import User

MAX_EMAIL_LENGTH = 254


class AccountError(ValueError):
    """A request about an account that cannot be honoured; `field` names the form field.

    `problems` lists every (field, message) found, so a form can show them all at once.
    """

    def __init__(
        self, message: str, field: str | None = None, more: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.problems = [(field, message), *(more or [])]


@dataclass(frozen=True)
class NormalisedEmail:
    display: str  # trimmed, domain lower-cased
    key: str  # what uniqueness compares: the whole address case-folded


def normalise_email(raw: str) -> NormalisedEmail:
    """Check the syntax (no DNS lookup) and normalise; raise AccountError when invalid."""
    candidate = (raw or "").strip()
    if not candidate:
        raise AccountError("Enter your email address.", "email")
    if len(candidate) > MAX_EMAIL_LENGTH:
        raise AccountError("That email address is too long.", "email")
    try:
        valid = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise AccountError(f"Enter a valid email address: {error}", "email") from None
    local, _, domain = valid.normalized.rpartition("@")
    display = f"{local}@{domain.lower()}"
    return NormalisedEmail(display=display, key=display.casefold())


def find_by_email(session: Session, email: str) -> User | None:
    try:
        key = normalise_email(email).key
    except AccountError:
        return None
    return session.scalar(select(User).where(User.email_key == key))


def register(session: Session, email: str, password: str) -> User | None:
    """Create an account; return None, as quietly as success, when the email is taken.

    The caller answers both cases the same way, so registration cannot tell anyone which
    addresses have accounts. The hash is computed either way to keep the timing alike.
    """
    try:
        address = normalise_email(email)
    except AccountError as error:
        weak = password_problems(password)
        raise AccountError(str(error), "email", [("password", weak[0])] if weak else []) from None
    problems = password_problems(password, address.display)
    if problems:
        raise AccountError(problems[0], "password")
    password_hash = hash_password(password)
    if session.scalar(select(User.id).where(User.email_key == address.key)) is not None:
        return None
    user = User(email=address.display, email_key=address.key, password_hash=password_hash)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:  # registered by a concurrent request a moment ago
        session.rollback()
        return None
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None; unknown emails cost a hash too."""
    user = find_by_email(session, email)
    if user is None:
        verify_password(dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.commit()
    return user


def check_current_password(user: User, password: str) -> None:
    if not verify_password(user.password_hash, password):
        raise AccountError("That is not your current password.", "current_password")


def change_email(session: Session, user: User, new_email: str, current_password: str) -> None:
    check_current_password(user, current_password)
    address = normalise_email(new_email)
    taken = session.scalar(select(User.id).where(User.email_key == address.key, User.id != user.id))
    if taken is not None:
        raise AccountError("That email address cannot be used.", "email")
    user.email, user.email_key = address.display, address.key
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AccountError("That email address cannot be used.", "email") from None


def change_password(session: Session, user: User, current_password: str, new_password: str) -> None:
    """Set a new password and sign the account out everywhere else."""
    check_current_password(user, current_password)
    problems = password_problems(new_password, user.email)
    if problems:
        raise AccountError(problems[0], "new_password")
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    session.commit()


def end_sessions(session: Session, user: User) -> None:
    """Invalidate every session and remember cookie of this user."""
    user.session_version += 1
    session.commit()


def delete_account(session: Session, user: User, current_password: str) -> None:
    """Delete the account and, through foreign keys, everything that belongs to it, then the
    history of datasets that only this account followed."""
    from app.follows.service import forget_unfollowed_history

    check_current_password(user, current_password)
    session.delete(user)
    session.flush()
    forget_unfollowed_history(session)
    session.commit()


def user_for_login_id(session: Session, value: str) -> User | None:
    """The user a session's login id names, unless its session version has since changed."""
    user_id, _, version = (value or "").partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user
