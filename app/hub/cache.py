"""Hub answers kept in the database: served while fresh, refreshed when old, and served
stale (saying so) when the Hub cannot be reached. Failures are never cached.

With REDIS_URL, Redis sits in front (app.hub.redis_cache): a fresh answer there is served
without reading the database, and every answer fetched or read fresh from the database is put
there for the other workers and hosts. The database keeps the last good answer for ever."""

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

from app.hub import redis_cache
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
    shared = redis_cache.current()
    if shared is not None:
        found = shared.get(key)
        if found is not None and now - found[1] < ttl:
            hub_cache_lookup(hit=True)
            return Cached(*found)
    entry = session.get(HubCacheEntry, key)
    fetched_at = _aware(entry.fetched_at) if entry else None
    fresh = entry is not None and now - fetched_at < ttl
    hub_cache_lookup(hit=fresh)
    if fresh:
        answer = Cached(json.loads(entry.payload), fetched_at)
        if shared is not None:  # Redis lost it (evicted, restarted): the others read it there
            shared.put(key, answer.value, fetched_at, fetched_at + ttl - now)
        return answer
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
    answer = Cached(json.loads(text), now)
    if shared is not None:
        shared.put(key, answer.value, now, ttl)
    return answer


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the Hub cache")


def peek(session: Session, key: str) -> Cached:
    """What the cache holds for `key`, however old, without asking the Hub (Redis holds
    fresh answers only; the database has the older ones)."""
    shared = redis_cache.current()
    found = shared.get(key) if shared is not None else None
    if found is not None:
        return Cached(*found)
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
    """`peek` for many keys in one query (a page that shows many datasets' cached answers):
    one round trip to Redis, then one query for the keys it did not hold."""
    shared = redis_cache.current()
    found = {
        key: Cached(*answer) for key, answer in (shared.get_many(keys) if shared else {}).items()
    }
    missing = [key for key in keys if key not in found]
    if missing:
        found.update(
            (entry.key, Cached(json.loads(entry.payload), _aware(entry.fetched_at)))
            for entry in session.scalars(
                select(HubCacheEntry).where(HubCacheEntry.key.in_(missing))
            )
        )
    return {key: found.get(key) or Cached(None, None, problem="not fetched yet") for key in keys}
