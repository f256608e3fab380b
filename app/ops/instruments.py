"""The Prometheus metrics the app moves, and the small calls that move them (no Flask here).

The domain code (Hub client, Hub cache, embedder) calls the functions below; app.ops.metrics
adds the per-request ones and serves them all on /metrics. Under gunicorn, set
PROMETHEUS_MULTIPROC_DIR before the app is imported: prometheus_client picks its storage
(per-process files) when it is first imported, and /metrics then adds up every worker's files.
Labels take a few fixed values only (Flask endpoint names, outcomes), never raw paths or ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from app.hub.errors import HubError, HubGated, HubNotFound, HubRateLimited, HubUnavailable
from app.ops import context

NAMESPACE = "dataset_explorer"

disable_created_metrics()  # no `_created` series: they double the output and nobody reads them

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by Flask endpoint (never the raw path), method and status.",
    ["endpoint", "method", "status"],
    namespace=NAMESPACE,
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching Flask to its response, by endpoint, method and status.",
    ["endpoint", "method", "status"],
    namespace=NAMESPACE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HUB_CALLS = Counter(
    "hub_calls",
    "Calls to the Hub API and dataset viewer (retries inside one call count once), by outcome.",
    ["outcome"],
    namespace=NAMESPACE,
)
HUB_CALL_SECONDS = Histogram(
    "hub_call_duration_seconds",
    "Time one Hub call took, retries and waits included, by outcome.",
    ["outcome"],
    namespace=NAMESPACE,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HUB_INVALID_ANSWERS = Counter(
    "hub_invalid_answers",
    "Hub answers that arrived but were not valid JSON.",
    namespace=NAMESPACE,
)
HUB_CACHE_LOOKUPS = Counter(
    "hub_cache_lookups",
    "Lookups in the cache of Hub answers (Redis, then the database): hit (fresh) or miss "
    "(the Hub was asked).",
    ["result"],
    namespace=NAMESPACE,
)
HUB_CACHE_REDIS = Counter(
    "hub_cache_redis_lookups",
    "Hub answers looked for in Redis (with REDIS_URL), by result: hit, miss, error (Redis "
    "failed), skipped (left alone for a while after it failed).",
    ["result"],
    namespace=NAMESPACE,
)
HUB_CACHE_STALE = Counter(
    "hub_cache_stale_served",
    "Misses answered from an expired cache entry because the Hub failed.",
    namespace=NAMESPACE,
)
HUB_BREAKER_OPEN = Gauge(
    "hub_circuit_breaker_open",
    "1 while a process's Hub circuit breaker is open (calls refused for a while), else 0; "
    "the highest over live processes.",
    namespace=NAMESPACE,
    multiprocess_mode="livemax",
)
EMBEDDING_BATCHES = Counter(
    "embedding_batches",
    "Batches of texts run through the embedding model.",
    namespace=NAMESPACE,
)
EMBEDDING_TEXTS = Counter(
    "embedding_texts",
    "Texts embedded.",
    namespace=NAMESPACE,
)
EMBEDDING_BATCH_SECONDS = Histogram(
    "embedding_batch_duration_seconds",
    "Model time for one batch of texts.",
    namespace=NAMESPACE,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

OUTCOMES = (
    (HubRateLimited, "rate_limited"),
    (HubNotFound, "not_found"),
    (HubGated, "gated"),
    (HubUnavailable, "unavailable"),
    (HubError, "refused"),
)


def hub_outcome(error: BaseException | None) -> str:
    """The outcome label of a Hub call that ended with `error` (None: it succeeded)."""
    if error is None:
        return "ok"
    return next((label for kind, label in OUTCOMES if isinstance(error, kind)), "error")


@contextmanager
def hub_call() -> Iterator[None]:
    """Count and time the Hub call made inside the block, by how it ended."""
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except BaseException as raised:
        error = raised
        raise
    finally:
        outcome = hub_outcome(error)
        seconds = time.perf_counter() - started
        HUB_CALLS.labels(outcome).inc()
        HUB_CALL_SECONDS.labels(outcome).observe(seconds)
        context.count_hub_call(seconds)  # for the request's log line


def hub_invalid_answer() -> None:
    HUB_INVALID_ANSWERS.inc()


def hub_cache_lookup(hit: bool) -> None:
    HUB_CACHE_LOOKUPS.labels("hit" if hit else "miss").inc()


def hub_cache_redis_lookups(result: str, count: int = 1) -> None:
    if count > 0:
        HUB_CACHE_REDIS.labels(result).inc(count)


def hub_cache_stale_served() -> None:
    HUB_CACHE_STALE.inc()


def hub_breaker_state(is_open: bool) -> None:
    HUB_BREAKER_OPEN.set(1 if is_open else 0)


def embedding_batch(texts: int, seconds: float) -> None:
    EMBEDDING_BATCHES.inc()
    EMBEDDING_TEXTS.inc(texts)
    EMBEDDING_BATCH_SECONDS.observe(seconds)


def request_answered(endpoint: str, method: str, status: int, seconds: float) -> None:
    labels = (endpoint, method, str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_LATENCY.labels(*labels).observe(seconds)
