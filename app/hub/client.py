"""A small, resilient client for the Hugging Face Hub API and the dataset viewer.

No Flask here: settings come in as arguments and answers go out as our own typed records.
Every call has connect and read timeouts inside an overall budget, retries only idempotent
GETs with capped jittered backoff, honours Retry-After and the `RateLimit` header without
sleeping past the budget, and stops calling for a while after repeated failures.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from app.catalog.records import DatasetRecord, RecordError, is_valid_repo_id, record_from_raw
from app.hub.errors import (
    HubError,
    HubGated,
    HubNotFound,
    HubRateLimited,
    HubUnavailable,
    InvalidRepoId,
)
from app.ops import instruments, tracing
from app.ops.context import HEADER as REQUEST_ID_HEADER
from app.ops.context import current_request_id

log = logging.getLogger(__name__)

# The fields a list call asks for: explicit, so what comes back is predictable.
LIST_EXPAND = (
    "author", "cardData", "createdAt", "description", "disabled", "downloads", "gated",
    "lastModified", "likes", "private", "sha", "tags", "trendingScore",
)  # fmt: skip
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
RATELIMIT_RESET_RE = re.compile(r"\bt=(\d+)")
NOT_FOUND_CODES = {"RepoNotFound", "RevisionNotFound", "EntryNotFound", "ResponseNotFound"}


@dataclass(frozen=True)
class HubSettings:
    endpoint: str = "https://huggingface.co"
    viewer_endpoint: str = "https://datasets-server.huggingface.co"
    token: str | None = field(default=None, repr=False)  # never printed
    connect_timeout: float = 3.05
    read_timeout: float = 6.0
    budget: float = 10.0  # seconds for one call, retries and waits included
    attempts: int = 3
    backoff_base: float = 0.2
    backoff_cap: float = 2.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    user_agent: str = "dataset-explorer/0.1"


@dataclass(frozen=True)
class SplitSize:
    config: str
    split: str
    num_rows: int | None
    num_bytes: int | None


@dataclass(frozen=True)
class DatasetDetail:
    record: DatasetRecord
    sha: str | None
    disabled: bool
    private: bool
    gated: str | None  # "manual", "auto" or None
    used_storage: int | None
    card_data: dict[str, Any]
    files: list[str]
    card_sizes: list[SplitSize]  # from cardData.dataset_info
    card_configs: list[ConfigSize] = field(default_factory=list)  # the same, per configuration


@dataclass(frozen=True)
class ConfigSize:
    """A configuration's totals as its card declares them."""

    config: str
    download_bytes: int | None  # what load_dataset downloads
    dataset_bytes: int | None  # the prepared Arrow tables


@dataclass(frozen=True)
class ViewerSize:
    splits: list[SplitSize]  # num_bytes: the split's Parquet files (all the viewer has per split)
    num_rows: int | None
    num_bytes: int | None  # all Parquet files
    original_bytes: int | None  # the files as uploaded
    partial: bool  # computed on part of the data: the counts are lower bounds
    memory_bytes: int | None = None  # loaded in memory, as `datasets` would hold it


@dataclass(frozen=True)
class ConfigInfo:
    name: str
    columns: list[tuple[str, str]]  # (column, type as the viewer names it)
    splits: list[SplitSize]  # num_bytes: in memory, as `datasets` loads it
    citation: str | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    title: str
    message: str
    authors: list[str]
    date: datetime | None


@dataclass(frozen=True)
class DatasetPage:
    records: list[DatasetRecord]
    bad: list[tuple[str | None, str]]  # (id if any, why it was unusable)
    next_url: str | None


@dataclass(frozen=True)
class CommitPage:
    commits: list[Commit]
    page: int
    per_page: int
    total: int | None
    has_next: bool


class CircuitBreaker:
    """Open after `threshold` failures in a row; after `cooldown`, let one probe through."""

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold, self.cooldown, self.clock = threshold, cooldown, clock
        self.failures = 0
        self.failures_before_success = 0  # to take back a success whose answer was garbage
        self.opened_at: float | None = None
        self.probing = False
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            if self.opened_at is None:
                return True
            if self.clock() - self.opened_at >= self.cooldown and not self.probing:
                self.probing = True
                return True
            return False

    def succeeded(self) -> None:
        with self.lock:
            self.failures_before_success = self.failures
            self.failures, self.opened_at, self.probing = 0, None, False
            instruments.hub_breaker_state(is_open=False)

    def unusable(self) -> None:
        """The last call answered 200 with garbage: a failure after all, not a success."""
        with self.lock:
            self.failures = self.failures_before_success
        self.failed()

    def failed(self) -> None:
        with self.lock:
            self.failures += 1
            if self.probing or self.failures >= self.threshold:
                self.opened_at = self.clock()
            self.probing = False
            instruments.hub_breaker_state(is_open=self.opened_at is not None)


class HubClient:
    def __init__(
        self,
        settings: HubSettings,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.clock, self.sleep = clock, sleep
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown, clock)
        self.quiet_until = 0.0  # after a 429 we do not call before this moment

    def reset(self) -> None:
        """Forget past failures and rate-limit pauses (a new process would)."""
        self.breaker.succeeded()
        self.quiet_until = 0.0

    # Endpoints --------------------------------------------------------------------------

    def dataset_pages(
        self,
        *,
        search: str | None = None,
        author: str | None = None,
        filters: Sequence[str] = (),
        sort: str = "lastModified",
        page_size: int = 100,
        start_url: str | None = None,
    ) -> Iterator[DatasetPage]:
        """Pages of datasets, newest first by `sort`, following the Link header.

        `start_url` continues from a page's `next_url` (a resumed sync); it must be on our Hub.
        """
        params: list[tuple[str, str]] | None
        if start_url:
            if not _same_origin(start_url, self.settings.endpoint):
                raise InvalidRepoId("A page URL must be on the configured Hub.")
            url: str | None = start_url
            params = None
        else:
            url = self._api_url("api", "datasets")
            params = [("sort", sort), ("limit", str(page_size))]
            params += [("expand", value) for value in LIST_EXPAND]
            params += [("search", search)] if search else []
            params += [("author", author)] if author else []
            params += [("filter", value) for value in filters]
        while url:
            response = self._get(url, params)
            items = self._json(response)
            if not isinstance(items, list):
                raise HubUnavailable("The Hub sent a dataset list of the wrong shape.")
            records, bad = [], []
            for item in items:
                try:
                    records.append(record_from_raw(item))
                except RecordError as error:
                    bad.append((item.get("id") if isinstance(item, dict) else None, str(error)))
            url, params = self._next_link(response), None
            yield DatasetPage(records, bad, url)

    def list_datasets(self, *, limit: int | None = None, **query: Any) -> Iterator[DatasetRecord]:
        """Datasets one by one across pages; bad items are skipped."""
        count = 0
        for page in self.dataset_pages(**query):
            for record in page.records:
                yield record
                count += 1
                if limit is not None and count >= limit:
                    return

    def dataset(self, repo_id: str, revision: str | None = None) -> DatasetDetail:
        path = ["api", "datasets", *self._repo_path(repo_id)]
        if revision:
            path += ["revision", self._revision(revision)]
        payload = self._json(self._get(self._api_url(*path)))
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise HubUnavailable("The Hub sent dataset details of the wrong shape.")
        try:
            record = record_from_raw(payload)
        except RecordError as error:
            raise HubUnavailable(f"The Hub sent an unusable dataset record: {error}") from None
        card_data = payload.get("cardData") if isinstance(payload.get("cardData"), dict) else {}
        gated = payload.get("gated")
        siblings = payload.get("siblings") if isinstance(payload.get("siblings"), list) else []
        return DatasetDetail(
            record=record,
            sha=payload.get("sha") if isinstance(payload.get("sha"), str) else None,
            disabled=payload.get("disabled") is True,
            private=payload.get("private") is True,
            gated=gated if isinstance(gated, str) and gated else None,
            used_storage=_whole(payload.get("usedStorage")),
            card_data=card_data,
            files=[s["rfilename"] for s in siblings if isinstance(s, dict) and "rfilename" in s],
            card_sizes=card_split_sizes(card_data.get("dataset_info")),
            card_configs=card_config_sizes(card_data.get("dataset_info")),
        )

    def card(self, repo_id: str, revision: str = "main") -> str | None:
        """The dataset card (README.md) as text; None when the dataset has none."""
        url = self._api_url(
            "datasets", *self._repo_path(repo_id), "resolve", self._revision(revision), "README.md"
        )
        try:
            response = self._get(url)
        except HubNotFound:
            return None
        response.encoding = response.encoding or "utf-8"
        return response.text

    def commits(
        self, repo_id: str, page: int = 0, per_page: int = 20, revision: str = "main"
    ) -> CommitPage:
        """One page of the commit history, newest first (pages count from 0, as the Hub's)."""
        url = self._api_url(
            "api", "datasets", *self._repo_path(repo_id), "commits", self._revision(revision)
        )
        response = self._get(url, [("p", str(page)), ("limit", str(per_page))])
        items = self._json(response)
        if not isinstance(items, list):
            raise HubUnavailable("The Hub sent a commit list of the wrong shape.")
        commits = [
            parse_commit(item) for item in items if isinstance(item, dict) and item.get("id")
        ]
        total = _whole(_int_or_none(response.headers.get("x-total-count")))
        has_next = self._next_link(response) is not None or (
            total is not None and (page + 1) * per_page < total
        )
        return CommitPage(commits, page, per_page, total, has_next)

    def viewer_size(self, repo_id: str) -> ViewerSize | None:
        """Rows and bytes per split from the dataset viewer; None when it has nothing."""
        self._repo_path(repo_id)
        url = self.settings.viewer_endpoint.rstrip("/") + "/size"
        try:
            payload = self._json(self._get(url, [("dataset", repo_id)]))
        except HubNotFound:
            return None
        size = payload.get("size") if isinstance(payload, dict) else None
        if not isinstance(size, dict):
            raise HubUnavailable("The dataset viewer sent sizes of the wrong shape.")
        dataset = size.get("dataset") if isinstance(size.get("dataset"), dict) else {}
        splits = [
            SplitSize(
                config=str(s.get("config", "")),
                split=str(s.get("split", "")),
                num_rows=_whole(s.get("num_rows")),
                num_bytes=_whole(s.get("num_bytes_parquet_files")),
            )
            for s in size.get("splits", [])
            if isinstance(s, dict)
        ]
        return ViewerSize(
            splits=splits,
            num_rows=_whole(dataset.get("num_rows")),
            num_bytes=_whole(dataset.get("num_bytes_parquet_files")),
            original_bytes=_whole(dataset.get("num_bytes_original_files")),
            partial=payload.get("partial") is True,
            memory_bytes=_whole(dataset.get("num_bytes_memory")),
        )

    def viewer_info(self, repo_id: str) -> list[ConfigInfo] | None:
        """Each configuration's columns and splits from the dataset viewer; None when unknown."""
        self._repo_path(repo_id)
        url = self.settings.viewer_endpoint.rstrip("/") + "/info"
        try:
            payload = self._json(self._get(url, [("dataset", repo_id)]))
        except HubNotFound:
            return None
        infos = payload.get("dataset_info") if isinstance(payload, dict) else None
        if not isinstance(infos, dict):
            raise HubUnavailable("The dataset viewer sent dataset info of the wrong shape.")
        return [
            ConfigInfo(
                name=str(name),
                columns=feature_columns(info.get("features")),
                splits=[
                    SplitSize(
                        str(name),
                        str(split.get("name") or key),
                        _whole(split.get("num_examples")),
                        _whole(split.get("num_bytes")),
                    )
                    for key, split in (info.get("splits") or {}).items()
                    if isinstance(split, dict)
                ],
                citation=info.get("citation").strip() or None
                if isinstance(info.get("citation"), str)
                else None,
            )
            for name, info in infos.items()
            if isinstance(info, dict)
        ]

    # Plumbing ---------------------------------------------------------------------------

    def _repo_path(self, repo_id: str) -> list[str]:
        if not is_valid_repo_id(repo_id):
            raise InvalidRepoId(f"Not a Hub dataset id: {repo_id!r:.80}")
        return [quote(part, safe="") for part in repo_id.split("/")]

    def _revision(self, revision: str) -> str:
        if not REVISION_RE.match(revision) or ".." in revision:
            raise InvalidRepoId(f"Not a revision: {revision!r:.60}")
        return quote(revision, safe="")

    def _api_url(self, *parts: str) -> str:
        return self.settings.endpoint.rstrip("/") + "/" + "/".join(parts)

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": self.settings.user_agent, "Accept": "application/json"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        if request_id := current_request_id():
            headers[REQUEST_ID_HEADER] = request_id  # nginx's id, so both logs can be matched
        return headers

    def _next_link(self, response: requests.Response) -> str | None:
        """The `rel="next"` URL, only when it stays on the host we asked."""
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        absolute = urljoin(response.url, link)
        return absolute if _same_origin(absolute, response.url) else None

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            self.breaker.unusable()
            instruments.hub_invalid_answer()
            raise HubUnavailable("The Hub sent an answer that is not valid JSON.") from None

    def _get(self, url: str, params: list[tuple[str, str]] | None = None) -> requests.Response:
        """_fetch, counted and timed by outcome for /metrics, and traced (app.ops.tracing)."""
        with tracing.hub_span(url) as span, instruments.hub_call():
            response = self._fetch(url, params)
            tracing.set_attributes(span, {"http.response.status_code": response.status_code})
            return response

    def _fetch(self, url: str, params: list[tuple[str, str]] | None = None) -> requests.Response:
        """GET with timeouts, retries, rate-limit waits and the breaker, all within the budget."""
        now = self.clock()
        if now < self.quiet_until:
            wait = self.quiet_until - now
            raise HubRateLimited(f"The Hub asked us to wait {wait:.0f} s.", wait)
        if not self.breaker.allow():
            raise HubUnavailable("The Hub has been failing; not asking again for a while.")
        deadline = now + self.settings.budget
        last_problem = "no attempt made"
        for attempt in range(self.settings.attempts):
            remaining = deadline - self.clock()
            if remaining <= 0.05:
                break
            try:
                response = self._send(url, params, remaining)
            except requests.RequestException as error:
                last_problem = f"{type(error).__name__}"
                log.warning("Hub request failed (%s): %s", last_problem, _loggable(url))
            else:
                outcome = self._classify(response)
                if outcome is None:
                    self.breaker.succeeded()
                    return response
                if isinstance(outcome, HubRateLimited):
                    self.breaker.succeeded()  # the Hub is up, only busy
                    if (
                        outcome.retry_after <= deadline - self.clock() - 0.05
                        and attempt + 1 < self.settings.attempts
                    ):
                        self.sleep(outcome.retry_after)
                        continue
                    self.quiet_until = self.clock() + outcome.retry_after
                    raise outcome
                if not isinstance(outcome, HubUnavailable):
                    self.breaker.succeeded()  # a definite answer: not found, gated
                    raise outcome
                last_problem = str(outcome)
            if attempt + 1 < self.settings.attempts:
                delay = random.uniform(
                    0, min(self.settings.backoff_cap, self.settings.backoff_base * 2**attempt)
                )
                if self.clock() + delay >= deadline:
                    break
                self.sleep(delay)
        self.breaker.failed()
        raise HubUnavailable(f"The Hub did not answer in time ({last_problem}).")

    def _send(self, url: str, params, remaining: float) -> requests.Response:
        timeout = (
            min(self.settings.connect_timeout, remaining),
            min(self.settings.read_timeout, remaining),
        )
        for _ in range(3):  # follow same-host redirects (renamed datasets) only
            response = self.session.get(
                url, params=params, headers=self._headers(), timeout=timeout, allow_redirects=False
            )
            if response.status_code not in (301, 302, 307, 308):
                return response
            target = urljoin(response.url, response.headers.get("Location", ""))
            response.close()
            if not _same_origin(target, url):
                raise requests.exceptions.InvalidURL("redirect to another host refused")
            url, params = target, None
        raise requests.exceptions.TooManyRedirects("too many redirects")

    def _classify(self, response: requests.Response) -> HubError | None:
        status = response.status_code
        if 200 <= status < 300:
            return None
        code = response.headers.get("X-Error-Code", "")
        if status == 429:
            return HubRateLimited("The Hub is rate limiting us.", retry_after_seconds(response))
        if code == "GatedRepo" or (status == 403 and "gated" in response.text[:500].lower()):
            return HubGated("Access to this dataset's files is gated.")
        if code in NOT_FOUND_CODES or status in (401, 404):
            return HubNotFound("No such dataset on the Hub, or it is private.")
        if status >= 500 or status == 408:
            return HubUnavailable(f"The Hub answered {status}.")
        return HubError(f"The Hub refused the request ({status}).")


def retry_after_seconds(response: requests.Response, default: float = 60.0) -> float:
    """Seconds to wait, from Retry-After or the `RateLimit: "api";r=0;t=N` header."""
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.strip().isascii() and retry_after.strip().isdigit():
        return float(retry_after)
    match = RATELIMIT_RESET_RE.search(response.headers.get("RateLimit", ""))
    return float(match.group(1)) if match else default


def card_split_sizes(dataset_info: Any) -> list[SplitSize]:
    """Split sizes from cardData.dataset_info: one dict, or a list of them (one per config)."""
    configs = dataset_info if isinstance(dataset_info, list) else [dataset_info]
    sizes = []
    for config in configs:
        if not isinstance(config, dict):
            continue
        name = str(config.get("config_name") or "default")
        for split in config.get("splits") or []:
            if isinstance(split, dict) and split.get("name"):
                sizes.append(
                    SplitSize(
                        name,
                        str(split["name"]),
                        _whole(split.get("num_examples")),
                        _whole(split.get("num_bytes")),
                    )
                )
    return sizes


def card_config_sizes(dataset_info: Any) -> list[ConfigSize]:
    """Download and prepared sizes per configuration from cardData.dataset_info."""
    configs = dataset_info if isinstance(dataset_info, list) else [dataset_info]
    return [
        ConfigSize(
            str(config.get("config_name") or "default"),
            _whole(config.get("download_size")),
            _whole(config.get("dataset_size")),
        )
        for config in configs
        if isinstance(config, dict)
    ]


def feature_columns(features: Any) -> list[tuple[str, str]]:
    """Column names and readable types from a `datasets` features dump."""
    if not isinstance(features, dict):
        return []
    columns = []
    for name, feature in features.items():
        if isinstance(feature, dict):
            kind = feature.get("dtype") or feature.get("_type") or "value"
            if feature.get("_type") == "ClassLabel" and isinstance(feature.get("names"), list):
                kind = f"class label ({len(feature['names'])} classes)"
        elif isinstance(feature, list):
            kind = "list"
        else:
            kind = str(type(feature).__name__)
        columns.append((str(name), str(kind)))
    return columns[:200]


def parse_commit(item: dict) -> Commit:
    authors = [
        a.get("user") for a in item.get("authors") or [] if isinstance(a, dict) and a.get("user")
    ]
    return Commit(
        sha=str(item["id"]),
        title=str(item.get("title") or "").strip()[:300],
        message=str(item.get("message") or "").strip()[:2000],
        authors=[str(a) for a in authors],
        date=_timestamp(item.get("date")),
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


def _same_origin(a: str, b: str) -> bool:
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.netloc) == (second.scheme, second.netloc)


def _loggable(url: str) -> str:
    """A URL for the log: no query string (it can hold user search text)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
