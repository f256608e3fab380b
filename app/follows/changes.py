"""What changed between two looks at a dataset, in sentences a person reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from app.hub.client import Commit

# Downloads move every day: only a swing this large is worth a line in the feed.
DOWNLOADS_CHANGE = 0.10


@dataclass(frozen=True)
class Facts:
    """The metadata that matters, as of one look."""

    sha: str | None
    license: str | None
    num_rows: int | None
    num_bytes: int | None
    downloads: int | None
    likes: int | None
    gated: bool
    card_hash: str | None


@dataclass(frozen=True)
class Change:
    kind: str
    summary: str
    happened_at: datetime
    important: bool = False
    sha: str | None = None
    author: str | None = None


def card_hash(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text else None


def detect_changes(
    before: Facts | None, after: Facts, commits: list[Commit], now: datetime
) -> list[Change]:
    """Changes from `before` to `after`; the first look is a baseline and reports nothing.

    `commits` is the history, newest first: those after `before.sha` are new.
    """
    if before is None:
        return []
    changes = [
        Change(
            "commit",
            commit.title or "(no title)",
            commit.date or now,
            sha=commit.sha,
            author=", ".join(commit.authors) or None,
        )  # fmt: skip
        for commit in new_commits(commits, before.sha)
    ]
    if before.license != after.license:
        changes.append(
            Change(
                "license",
                f"licence changed from {before.license or 'none'} to {after.license or 'none'}",
                now,
                important=True,
            )  # fmt: skip
        )
    if before.gated != after.gated:
        text = "became gated" if after.gated else "is no longer gated"
        changes.append(Change("gated", text, now, important=True))
    if before.num_rows != after.num_rows and None not in (before.num_rows, after.num_rows):
        changes.append(Change("rows", _counted("rows", before.num_rows, after.num_rows), now))
    if before.num_bytes != after.num_bytes and None not in (before.num_bytes, after.num_bytes):
        changes.append(Change("bytes", _sized(before.num_bytes, after.num_bytes), now))
    if before.card_hash and after.card_hash and before.card_hash != after.card_hash:
        changes.append(Change("card", "card edited", now))
    if before.likes is not None and after.likes is not None and before.likes != after.likes:
        changes.append(Change("likes", _counted("likes", before.likes, after.likes), now))
    if before.downloads and after.downloads is not None:
        swing = (after.downloads - before.downloads) / before.downloads
        if abs(swing) >= DOWNLOADS_CHANGE:
            changes.append(
                Change("downloads", _counted("downloads", before.downloads, after.downloads), now)
            )
    return changes


def new_commits(commits: list[Commit], last_seen_sha: str | None) -> list[Commit]:
    """The commits above the one we saw last (all of the page when it is not on it)."""
    if not last_seen_sha:
        return []
    fresh = []
    for commit in commits:
        if commit.sha == last_seen_sha:
            return fresh
        fresh.append(commit)
    return fresh


def _percent(before: int, after: int) -> str:
    if before == 0:
        return ""
    return f" ({(after - before) / before:+.1%})"


def _counted(name: str, before: int, after: int) -> str:
    return f"{name} {before:,} → {after:,}{_percent(before, after)}"


def _sized(before: int, after: int) -> str:
    from app.templating import file_size

    return f"size {file_size(before)} → {file_size(after)}{_percent(before, after)}"
