"""Password rules and hashing (argon2id at OWASP's parameters)."""

from __future__ import annotations

import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 8
MAX_LENGTH = 1024  # far above the 64 we promise; bounds the work one request can ask for

# OWASP's floor for argon2id: 19 MiB, 2 passes, 1 lane. Hashes made with other parameters
# are re-hashed with these at the next successful sign-in.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def common_passwords() -> frozenset[str]:
    """30,000 most common passwords (zxcvbn's list, from leaked-password frequency data)."""
    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


def normalise(password: str) -> str:
    """NFKC, so the same password typed on two keyboards gives the same hash."""
    return unicodedata.normalize("NFKC", password)


def password_problems(password: str, email: str = "") -> list[str]:
    """What is wrong with a new password, in words for the person; empty when it is fine."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters."]
    if len(password) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    folded = password.casefold()
    if folded in common_passwords():
        return ["This password is one of the most common ones; choose another."]
    if email and folded in (email.casefold(), email.split("@")[0].casefold()):
        return ["Do not use your email address as your password."]
    return []


def hash_password(password: str) -> str:
    return HASHER.hash(normalise(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


@cache
def dummy_hash() -> str:
    """Checked against for unknown emails, so they take as long as a wrong password."""
    return hash_password("not a real password, only for timing")
