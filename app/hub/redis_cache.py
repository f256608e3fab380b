"""Redis in front of the database cache of Hub answers, when REDIS_URL is set.

Every worker and host reads a fresh Hub answer from Redis, and asks the database only for a
miss or an expired answer. The database stays the store of record: it keeps the last good
answer for ever (served when the Hub fails), while Redis keeps an answer for the cache's TTL
and may evict it sooner.

Redis down or stuck never breaks a page: each call waits at most TIMEOUT seconds, and after a
failure this process leaves Redis alone for PAUSE seconds (one warning in the log, not one per
request) and works from the database as without REDIS_URL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context

from app.ops.instruments import hub_cache_redis_lookups

logger = logging.getLogger(__name__)

EXTENSION_KEY = "hub_cache_redis"
PREFIX = "dataset-explorer:hub:"
TIMEOUT = 0.5  # seconds, to connect and per command
PAUSE = 30.0  # seconds without Redis after it failed


class RedisCache:
    """Hub answers in Redis as JSON {"payload": ..., "fetched_at": ISO time}, expiring with
    the cache's TTL. Every method swallows Redis's errors: a failure is a miss."""

    def __init__(
        self,
        url: str,
        timeout: float = TIMEOUT,
        pause: float = PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: a miss costs one timeout at most, and the database answers instead.
        self.redis = Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.pause = pause
        self.clock = clock
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, datetime] | None:
        """(payload, fetched_at) for `key`, or None (not there, or Redis unavailable)."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, tuple[Any, datetime]]:
        """The keys Redis holds, in one round trip; the others are left out."""
        if not keys:
            return {}
        if self._paused():
            hub_cache_redis_lookups("skipped", len(keys))
            return {}
        try:
            values = self.redis.mget([PREFIX + key for key in keys])
        except Exception as error:  # RedisError, or an OSError redis-py did not wrap
            self._failed(error, len(keys))
            return {}
        found = {}
        for key, value in zip(keys, values, strict=True):
            answer = _decode(key, value) if value is not None else None
            if answer is not None:
                found[key] = answer
        hub_cache_redis_lookups("hit", len(found))
        hub_cache_redis_lookups("miss", len(keys) - len(found))
        return found

    def put(self, key: str, payload: Any, fetched_at: datetime, expires_in: timedelta) -> None:
        """Keep `payload` for `expires_in` (nothing when that is not positive)."""
        milliseconds = int(expires_in.total_seconds() * 1000)
        if milliseconds <= 0 or self._paused():
            return
        value = json.dumps({"payload": payload, "fetched_at": fetched_at.isoformat()})
        try:
            self.redis.set(PREFIX + key, value, px=milliseconds)
        except Exception as error:
            self._failed(error, 0)

    def _paused(self) -> bool:
        return self.clock() < self._paused_until

    def _failed(self, error: Exception, lookups: int) -> None:
        hub_cache_redis_lookups("error", lookups)
        with self._lock:
            if self._paused():
                return  # another thread already said so
            self._paused_until = self.clock() + self.pause
        logger.warning(
            "Redis did not answer for the Hub cache (%s: %s); using the database only for "
            "the next %.0f s.",
            type(error).__name__,
            error,
            self.pause,
        )


def _decode(key: str, value: bytes) -> tuple[Any, datetime] | None:
    try:
        stored = json.loads(value)
        fetched_at = datetime.fromisoformat(stored["fetched_at"])
        if fetched_at.tzinfo is None:
            raise ValueError("fetched_at without a time zone")
        return stored["payload"], fetched_at
    except (ValueError, TypeError, KeyError) as error:
        logger.warning("Ignoring an unreadable Hub cache entry in Redis for %s: %s", key, error)
        return None


def init_app(app: Flask) -> None:
    """With REDIS_URL (and HUB_CACHE_REDIS not turned off), one client per process."""
    url = app.config.get("REDIS_URL")
    if url and app.config.get("HUB_CACHE_REDIS", True):
        app.extensions[EXTENSION_KEY] = RedisCache(url)


def current() -> RedisCache | None:
    """The app's Redis layer, or None (no REDIS_URL, turned off, or outside an app)."""
    if not has_app_context():
        return None
    return current_app.extensions.get(EXTENSION_KEY)
