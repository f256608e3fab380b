"""Hub answers kept in the database: served while fresh, refreshed when old, and served
stale (saying so) when the Hub cannot be reached. Failures are never cached."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.hub.errors import HubError, HubGated, HubNotFound
from app.models import HubCacheEntry
from app.ops.instruments import hub_cache_lookup, hub_cache_stale_served


@dataclass(frozen=True)
class Cached:
    value: Any  # the JSON payload, or None when there is none at all
    fetched_at: datetime | None
    problem: str | None = None  # why it is stale, or why there is nothing

    @property
    def stale(self) -> bool:
        return self.problem is not None and self.value is not None


def cached_fetch(
    session: Session,
    key: str,
    ttl: timedelta,
    fetch: Callable[[], Any],
    now: datetime | None = None,
) -> Cached:
    """The payload for `key`: from the cache within `ttl`, else from `fetch()`.

    `fetch` returns a JSON-able payload. A definite answer (not found, gated) is a fact and is
    kept like any payload, as {"missing": true} or {"gated": true}; anything else that fails
    falls back to the last good payload.
    """
    now = now or datetime.now(UTC)
    entry = session.get(HubCacheEntry, key)
    fetched_at = _aware(entry.fetched_at) if entry else None
    fresh = entry is not None and now - fetched_at < ttl
    hub_cache_lookup(hit=fresh)
    if fresh:
        return Cached(json.loads(entry.payload), fetched_at)
    try:
        payload = fetch()
    except HubNotFound:
        payload = {"missing": True}
    except HubGated:
        payload = {"gated": True}
    except HubError as error:
        session.rollback()
        if entry is not None:
            hub_cache_stale_served()
            return Cached(json.loads(entry.payload), fetched_at, problem=str(error))
        return Cached(None, None, problem=str(error))
    text = json.dumps(payload, default=_json_default)
    if entry is None:
        # Another request may have fetched and stored the same key meanwhile (two reports
        # sharing a member, opened at once): one upsert, and the later answer wins.
        insert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        statement = insert(HubCacheEntry).values(key=key, payload=text, fetched_at=now)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[HubCacheEntry.key], set_={"payload": text, "fetched_at": now}
            )
        )
    else:
        entry.payload, entry.fetched_at = text, now
    session.commit()
    return Cached(json.loads(text), now)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the Hub cache")


def peek(session: Session, key: str) -> Cached:
    """What the cache holds for `key`, however old, without asking the Hub."""
    entry = session.get(HubCacheEntry, key)
    if entry is None:
        return Cached(None, None, problem="not fetched yet")
    return Cached(json.loads(entry.payload), _aware(entry.fetched_at))


def is_fresh(answer: Cached, ttl: timedelta, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return (
        answer.fetched_at is not None and answer.problem is None and now - answer.fetched_at < ttl
    )


def peek_many(session: Session, keys: list[str]) -> dict[str, Cached]:
    """`peek` for many keys in one query (a page that shows many datasets' cached answers)."""
    found = {
        entry.key: Cached(json.loads(entry.payload), _aware(entry.fetched_at))
        for entry in session.scalars(select(HubCacheEntry).where(HubCacheEntry.key.in_(keys)))
    }
    return {key: found.get(key) or Cached(None, None, problem="not fetched yet") for key in keys}
