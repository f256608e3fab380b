"""The fake Hub server: routing, Hub and viewer endpoints, rate limits, faults, request log."""

from __future__ import annotations

import base64
import binascii
import glob
import html
import ipaddress
import json
import math
import re
import socket
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import model
from .model import FakeDataset, iso

EXPAND_FIELDS = tuple(
    (
        "author cardData citation createdAt description disabled downloads downloadsAllTime gated "
        "lastModified likes mainSize paperswithcode_id private resourceGroup sha siblings tags "
        "trendingScore usedStorage"
    ).split()
)
SORTS = ("createdAt", "downloads", "lastModified", "likes", "trendingScore")
ITEM_ORDER = tuple(
    (
        "_id id author cardData disabled gated lastModified likes trendingScore private sha "
        "description downloads downloadsAllTime tags createdAt citation paperswithcode_id "
        "siblings usedStorage mainSize resourceGroup"
    ).split()
)
LIST_FIELDS = frozenset(
    (
        "author disabled gated lastModified likes trendingScore private sha description "
        "downloads tags createdAt"
    ).split()
)
FULL_LIST_FIELDS = LIST_FIELDS | {"cardData", "siblings"}
INFO_ORDER = tuple(
    (
        "_id id author sha lastModified private gated disabled tags citation paperswithcode_id "
        "description downloads likes cardData siblings createdAt usedStorage"
    ).split()
)
OMIT_WHEN_NONE = frozenset(
    ("cardData", "citation", "paperswithcode_id", "description", "resourceGroup", "mainSize")
)
FAULT_OPTIONS = {
    "latency": {"seconds"},
    "status": {"status", "body", "message", "code", "headers", "retry_after"},
    "timeout": {"seconds"},
    "malformed": {"body"},
    "truncated": {"fraction", "declare_full"},
    "schema": {"variant", "body", "keys"},
    "not_found": set(),
    "gated": set(),
}
FAULT_KINDS = tuple(FAULT_OPTIONS)
SCHEMA_VARIANTS = ("wrap", "drop_ids", "types", "null")
ALL_ROUTES = frozenset(("list", "info", "commits", "file", "viewer", "whoami", "unknown"))
JSON_ROUTES = frozenset(("list", "info", "commits", "viewer", "whoami"))
FAULT_ROUTES = {
    "latency": ALL_ROUTES,
    "status": ALL_ROUTES,
    "timeout": ALL_ROUTES,
    "truncated": ALL_ROUTES,
    "malformed": JSON_ROUTES,
    "schema": JSON_ROUTES,
    "not_found": frozenset(("info", "commits", "file", "viewer")),
    "gated": frozenset(("file", "viewer")),
}
VIEWER_PATHS = ("/size", "/info", "/splits", "/is-valid")
INVALID_TOKEN = "Invalid credentials in Authorization header"
VIEWER_NOT_ACCESSIBLE = (
    "The dataset does not exist, or is not accessible without authentication (private or "
    "gated). Please check the spelling of the dataset name or retry with authentication."
)
VIEWER_NOT_READY = (
    "The server is busier than usual and the response is not ready yet. Please retry later."
)
VIEWER_BLOCKED = (
    "The parquet conversion has been disabled for this dataset for now. Please open an issue in "
    "https://github.com/huggingface/dataset-viewer if you want this dataset to be supported."
)
DEFAULT_QUOTAS = {"api": (500, 1000), "resolvers": (3000, 5000)}


class HubResponse(Exception):
    """Raised inside a handler to answer with `response` at once."""

    def __init__(self, response: Response) -> None:
        self.response = response


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return Response(
        body, status=status, headers=headers, content_type="application/json; charset=utf-8"
    )


def hub_error(
    status: int, message: str, code: str | None = None, header_message: bool = True
) -> Response:
    headers = {}
    if code:
        headers["X-Error-Code"] = code
    if header_message:
        headers["X-Error-Message"] = message
    return json_response({"error": message}, status, headers)


def viewer_error(status: int, code: str, message: str) -> Response:
    return json_response({"error": message}, status, {"X-Error-Code": code})


@dataclass
class Fault:
    """One switched-on fault. `times` counts down on each request it hits (None: forever)."""

    id: int
    kind: str
    times: int | None = None
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def __post_init__(self) -> None:
        self._regex = re.compile(self.path) if self.path else None

    def matches(self, path: str, route: str) -> bool:
        if route not in FAULT_ROUTES[self.kind]:
            return False
        if self._regex is not None and not self._regex.search(path):
            return False
        return self.times is None or self.times > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "times": self.times,
            "path": self.path,
            "options": self.options,
            "hits": self.hits,
        }


@dataclass
class LoggedRequest:
    """One request the fake received (control calls under /_fakehub are not logged)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    query_string: str = ""
    status: int | None = None
    time: float = 0.0
    fault: str | None = None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without the per-request log lines (unless the hub is verbose)."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        if getattr(self.server, "fakehub_verbose", False):
            super().log(type, message, *args)

    def setup(self) -> None:
        super().setup()
        self.server.fakehub._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fakehub._track(self.connection, False)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _encode_cursor(payload: list[Any]) -> str:
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_cursor(text: str) -> list[Any]:
    try:
        payload = json.loads(base64.b64decode(text.encode(), validate=True))
    except (binascii.Error, ValueError) as error:
        raise ValueError("invalid cursor") from error
    if not isinstance(payload, list) or len(payload) != 3:
        raise ValueError("invalid cursor")
    return payload


class FakeHub:
    """A fake Hugging Face Hub (API + dataset viewer) on a real loopback HTTP port.

    See the package docstring for usage. Thread-safe: tests change data and faults while the
    server threads answer.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 1000,
        max_page_size: int = 1000,
        commits_page_size: int = 50,
        tokens: Iterable[str] | None = None,
        rate_limit: bool = True,
        quotas: dict[str, tuple[int, int]] | None = None,
        window: int = 300,
        examples: bool = False,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.commits_page_size = commits_page_size
        self.tokens = set(tokens) if tokens is not None else None
        self.rate_limit = rate_limit
        self.quotas = {**DEFAULT_QUOTAS, **(quotas or {})}
        self.window = window
        self.verbose = verbose
        self.errors: list[str] = []
        """Tracebacks of exceptions inside the fake (a bug in it); tests may assert it is empty."""
        self._lock = threading.RLock()
        self._datasets: dict[str, FakeDataset] = {}
        self._redirects: dict[str, str] = {}
        self._seq = 0
        self._faults: list[Fault] = []
        self._fault_seq = 0
        self._log: list[LoggedRequest] = []
        self._counts: dict[tuple[str, str, int], int] = {}
        self._clock_start = time.monotonic()
        self._stopping = threading.Event()
        self._active = 0
        self._idle = threading.Condition(self._lock)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        if examples:
            self.add_examples()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` (no trailing slash); for both HF_ENDPOINT and the viewer."""
        if self._server is None:
            raise RuntimeError("the fake Hub is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self._server.server_port}"

    viewer_url = url

    def start(self) -> FakeHub:
        if self._server is not None:
            return self
        if not is_loopback(self.host):
            raise ValueError(f"the fake Hub only binds loopback addresses, not {self.host!r}")
        self._stopping.clear()
        self._server = make_server(
            self.host, self.port, self.wsgi_app, threaded=True, request_handler=_QuietHandler
        )
        self._server.fakehub_verbose = self.verbose
        self._server.fakehub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakehub:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, drain: float = 5.0) -> None:
        """Stop serving: held (`timeout`/`latency`) requests are released at once."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(drain)
        with self._idle:
            open_connections = list(self._connections)
        for connection in open_connections:  # idle keep-alive connections end now too
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + drain
        with self._idle:
            while (self._active or self._connections) and time.monotonic() < deadline:
                self._idle.wait(0.05)
        self._server = self._thread = None

    def _track(self, connection: socket.socket, opened: bool) -> None:
        with self._idle:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
                self._idle.notify_all()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- data -------------------------------------------------------------------------------

    def add_dataset(self, dataset_id: str, **fields: Any) -> FakeDataset:
        """Add (or replace) a dataset. Fields: see the package docstring."""
        return self._add(dataset_id, fields, validate=True)

    def _add(self, dataset_id: str, fields: dict[str, Any], validate: bool) -> FakeDataset:
        with self._lock:
            self._seq += 1
            dataset = FakeDataset(dataset_id, self._seq, fields, validate=validate)
            self._datasets[dataset_id] = dataset
            self._redirects.pop(dataset_id, None)
            return dataset

    def add_records(self, records: Iterable[dict[str, Any]]) -> list[FakeDataset]:
        """Add catalog-*.jsonl records, hf_datasets meta records or Hub API items."""
        added = []
        for record in records:
            kind = model.classify(record)
            if kind is None:
                raise ValueError(f"not a dataset record: {record!r:.100}")
            if kind == "card":
                self.update(record["id"], card=record["card"])
            elif kind == "sizes":
                self.update(record["id"], canonical_sizes=record["configs"])
            else:
                added.append(
                    self.add_dataset(record["id"], **model.fields_from_record(record, kind))
                )
        return added

    def load_catalog(
        self, paths: str | Path | Iterable[str | Path], cards_dir: str | Path | None = None
    ) -> int:
        """Load JSON Lines files (shape detected per line); returns the number of datasets added.

        catalog-*.jsonl and Hub items win over hf_datasets meta records for the same id;
        canonical_dataset_infos lines attach per-config sizes to datasets already loaded;
        {"id", "card"} lines (or `cards_dir/*.jsonl`) attach real card text.
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        expanded: list[str | Path] = []
        for path in paths:  # "catalog-0*.jsonl" works without a shell too
            matches = sorted(glob.glob(str(path))) if glob.has_magic(str(path)) else []
            expanded.extend(matches or [path])
        paths = expanded
        rank = {"meta": 1, "catalog": 2, "hub": 2}
        kept: dict[str, tuple[int, str, dict[str, Any]]] = {}
        sizes: dict[str, Any] = {}
        cards: dict[str, str] = {}
        for path in paths:
            for _, record in model.iter_jsonl(path):
                kind = model.classify(record)
                if kind is None:
                    continue
                if kind == "card":
                    cards[record["id"]] = record["card"]
                elif kind == "sizes":
                    sizes[record["id"]] = record["configs"]
                elif kind in rank:
                    previous = kept.get(record["id"])
                    if previous is None or previous[0] <= rank[kind]:
                        kept[record["id"]] = (rank[kind], kind, record)
        if cards_dir is not None:
            for path in model.card_files(cards_dir):
                for _, record in model.iter_jsonl(path):
                    if model.classify(record) == "card" and record["id"] in kept:
                        cards[record["id"]] = record["card"]
        with self._lock:
            for dataset_id, (_, kind, record) in kept.items():
                fields = model.fields_from_record(record, kind)
                if dataset_id in sizes:
                    fields["canonical_sizes"] = sizes[dataset_id]
                if dataset_id in cards:
                    fields["card"] = cards[dataset_id]
                try:
                    self._add(dataset_id, fields, validate=False)  # derived lazily
                except (ValueError, TypeError):
                    continue
            for dataset_id, configs in sizes.items():
                if dataset_id not in kept and dataset_id in self._datasets:
                    self.update(dataset_id, canonical_sizes=configs)
        return len(kept)

    @classmethod
    def from_catalog(
        cls,
        paths: str | Path | Iterable[str | Path],
        cards_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> FakeHub:
        hub = cls(**kwargs)
        hub.load_catalog(paths, cards_dir)
        return hub

    def add_examples(self) -> list[FakeDataset]:
        """A few real datasets with the exact values of the saved Hub/viewer samples."""
        from .examples import EXAMPLES

        return [self.add_dataset(dataset_id, **fields) for dataset_id, fields in EXAMPLES]

    def update(self, dataset_id: str, **fields: Any) -> FakeDataset:
        """Change fields of a dataset (e.g. likes, gated, card, lastModified, viewer)."""
        with self._lock:
            dataset = self.dataset(dataset_id)
            dataset.update(validate=True, **fields)
            return dataset

    def touch(
        self,
        dataset_id: str,
        *,
        title: str = "Update README.md",
        message: str = "",
        when: Any = None,
        author: str | None = None,
        card: str | None = None,
    ) -> dict[str, Any]:
        """Simulate a push: a new head commit, sha and lastModified (optionally a new card)."""
        with self._lock:
            dataset = self.dataset(dataset_id)
            view = dataset.view()
            moment = (
                model.parse_time(when)
                if when is not None
                else max(
                    datetime.now(UTC).replace(microsecond=0),
                    view.last_modified + timedelta(seconds=1),
                )
            )
            history = [dict(commit) for commit in view.commits]
            user = author or view.author or "system"
            commit = {
                "id": model.hexid(40, dataset_id, "touch", len(history), iso(moment), title),
                "title": title,
                "message": message,
                "authors": [{"user": user, "avatar": model.avatar(user)}],
                "date": moment,
            }
            changes: dict[str, Any] = {
                "commits": [commit, *history],
                "lastModified": moment,
                "sha": None,
            }
            if card is not None:
                changes["card"] = card
            dataset.update(**changes)
            return {**commit, "date": iso(moment)}

    def remove(self, dataset_id: str) -> None:
        with self._lock:
            self._datasets.pop(dataset_id)

    def rename(self, old_id: str, new_id: str) -> FakeDataset:
        """Move a repo: the old id answers 307 with a relative Location, as the Hub does."""
        with self._lock:
            dataset = self._datasets.pop(old_id)
            renamed = FakeDataset(new_id, dataset.seq, dict(dataset.fields))
            self._datasets[new_id] = renamed
            self._redirects[old_id] = new_id
            for old, target in list(self._redirects.items()):
                if target == old_id:
                    self._redirects[old] = new_id
            return renamed

    def dataset(self, dataset_id: str) -> FakeDataset:
        with self._lock:
            try:
                return self._datasets[dataset_id]
            except KeyError:
                raise KeyError(f"no dataset {dataset_id!r} in the fake Hub") from None

    def __contains__(self, dataset_id: object) -> bool:
        return dataset_id in self._datasets

    def __len__(self) -> int:
        return len(self._datasets)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._datasets)

    def warm(self) -> int:
        """Derive every dataset now (parses all cards); returns how many cards failed to parse."""
        with self._lock:
            datasets = list(self._datasets.values())
        return sum(1 for dataset in datasets if dataset.view().card_parse_error)

    def item(self, dataset_id: str, expand: Iterable[str] | None = None) -> dict[str, Any]:
        """What GET /api/datasets/{id} (or ?expand=...) would return, without HTTP."""
        view = self.dataset(dataset_id).view()
        return self._info_item(view, list(expand) if expand else None, blobs=False, commit=0)

    # -- faults -----------------------------------------------------------------------------

    def fail(
        self, kind: str, times: int | None = None, path: str | None = None, **options: Any
    ) -> Fault:
        """Switch a fault on (see the package docstring for kinds and options)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        unknown = set(options) - FAULT_OPTIONS[kind]
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} for fault {kind!r}")
        if kind == "schema" and options.get("variant", "wrap") not in SCHEMA_VARIANTS:
            raise ValueError(f"schema variant must be one of {SCHEMA_VARIANTS}")
        if path is not None:
            re.compile(path)
        with self._lock:
            self._fault_seq += 1
            fault = Fault(self._fault_seq, kind, times, path, dict(options))
            self._faults.append(fault)
            return fault

    def heal(self, fault: Fault | int | None = None) -> None:
        """Switch off one fault (object or id) or all of them."""
        with self._lock:
            if fault is None:
                self._faults.clear()
            else:
                wanted = fault.id if isinstance(fault, Fault) else fault
                self._faults = [f for f in self._faults if f.id != wanted]

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.times is None or f.times > 0]

    def _take_faults(self, path: str, route: str) -> tuple[float, Fault | None]:
        """(seconds of latency, the first other matching fault), spending their `times`."""
        delay = 0.0
        chosen = None
        with self._lock:
            for fault in self._faults:
                if fault.kind == "latency" and fault.matches(path, route):
                    delay += float(fault.options.get("seconds", 0.5))
                    self._spend(fault)
            for fault in self._faults:
                if fault.kind != "latency" and fault.matches(path, route):
                    chosen = fault
                    self._spend(fault)
                    break
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
        return delay, chosen

    @staticmethod
    def _spend(fault: Fault) -> None:
        fault.hits += 1
        if fault.times is not None:
            fault.times -= 1

    # -- request log ------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many logged requests match a path regex (re.search) and method."""
        pattern = re.compile(path) if path else None
        return sum(
            1
            for entry in self.requests
            if (pattern is None or pattern.search(entry.path))
            and (method is None or entry.method == method)
        )

    def reset_rate_limit(self) -> None:
        with self._lock:
            self._counts.clear()

    # -- WSGI -------------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._idle:
            self._active += 1
        try:
            request = Request(environ)
            try:
                response = self._handle(request)
            except Exception:
                self.errors.append(traceback.format_exc())
                response = hub_error(500, "Internal Error in the fake Hub")
            return response(environ, start_response)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _handle(self, request: Request) -> Response:
        raw_path = (
            request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or ""
        ).split("?")[0]
        if not raw_path.startswith("/"):
            raw_path = quote(request.path)
        request.environ["fakehub.raw_path"] = raw_path
        path = unquote(raw_path)
        if path.startswith("/_fakehub/") or path == "/_fakehub":
            return self._control(request, path)
        entry = LoggedRequest(
            method=request.method,
            path=path,
            query=request.args.to_dict(flat=False),
            headers=dict(request.headers.items()),
            query_string=request.query_string.decode("latin-1"),
            time=time.time(),
        )
        with self._lock:
            self._log.append(entry)
        route = self._route_kind(path)
        authorization = request.headers.get("Authorization")
        authenticated = bool(authorization)
        bucket = "resolvers" if route == "file" else ("viewer" if route == "viewer" else "api")
        rate = self._count(
            bucket, authorization or f"anonymous:{request.remote_addr}", authenticated
        )
        response = self._answer(request, path, raw_path, route, authenticated, rate, entry)
        if "RateLimit" not in response.headers:
            remaining, reset, quota, label, _ = rate
            response.headers["RateLimit"] = f'"{label}";r={remaining};t={reset}'
            response.headers["RateLimit-Policy"] = (
                f'"fixed window";"{label}";q={quota};w={self.window}'
            )
        entry.status = response.status_code
        return response

    def _count(
        self, bucket: str, identity: str, authenticated: bool
    ) -> tuple[int, int, int, str, bool]:
        label = "resolvers" if bucket == "resolvers" else "api"
        quota = self.quotas[label][1 if authenticated else 0]
        elapsed = time.monotonic() - self._clock_start
        window_index = int(elapsed // self.window)
        reset = max(1, math.ceil(self.window - elapsed % self.window))
        key = (bucket, identity, window_index)
        with self._lock:
            self._counts[key] = used = self._counts.get(key, 0) + 1
        return max(0, quota - used), reset, quota, label, used > quota

    def _answer(
        self,
        request: Request,
        path: str,
        raw_path: str,
        route: str,
        authenticated: bool,
        rate: tuple[int, int, int, str, bool],
        entry: LoggedRequest,
    ) -> Response:
        _, reset, quota, label, exceeded = rate
        if self.rate_limit and exceeded:
            return self._too_many(reset, quota, label, "You have exceeded the rate limit.")
        delay, fault = self._take_faults(path, route)
        if delay:
            self._stopping.wait(delay)
        if fault is not None:
            entry.fault = fault.kind
            early = self._fault_response(fault, request, route, authenticated, quota, label)
            if early is not None:
                return early
        if self.tokens is not None and request.headers.get("Authorization"):
            token = request.headers["Authorization"].removeprefix("Bearer ").strip()
            if token not in self.tokens:
                return hub_error(401, INVALID_TOKEN)
        try:
            response = self._route(request, path, raw_path, route, authenticated)
        except HubResponse as answer:
            response = answer.response
        if fault is not None:
            response = self._transform(fault, response)
        return response

    def _too_many(self, seconds: int, quota: int, label: str, message: str) -> Response:
        response = hub_error(429, message)
        response.headers["Retry-After"] = str(seconds)
        response.headers["RateLimit"] = f'"{label}";r=0;t={seconds}'
        response.headers["RateLimit-Policy"] = f'"fixed window";"{label}";q={quota};w={self.window}'
        return response

    # -- faults applied -----------------------------------------------------------------------

    def _fault_response(
        self,
        fault: Fault,
        request: Request,
        route: str,
        authenticated: bool,
        quota: int,
        label: str,
    ) -> Response | None:
        options = fault.options
        if fault.kind == "status":
            status = int(options.get("status", 500))
            if status == 429:
                seconds = int(options.get("retry_after", 1))
                response = self._too_many(
                    seconds, quota, label, options.get("message", "Too Many Requests")
                )
            else:
                body = options.get("body")
                if body is None:
                    message = options.get("message") or _reason(status)
                    response = hub_error(status, message, options.get("code"), header_message=False)
                elif isinstance(body, str):
                    response = Response(
                        body, status=status, content_type="text/html; charset=utf-8"
                    )
                else:
                    response = json_response(body, status)
            for key, value in (options.get("headers") or {}).items():
                response.headers[key] = str(value)
            return response
        if fault.kind == "timeout":
            self._stopping.wait(float(options.get("seconds", 30.0)))
            return hub_error(504, "Gateway Timeout", header_message=False)
        if fault.kind == "malformed":
            body = options.get(
                "body", '{"_id":"621ffdd236468d709f181d58","id":"fakehub" "likes":1,'
            )
            return Response(body, status=200, content_type="application/json; charset=utf-8")
        if fault.kind == "not_found":
            if route == "viewer":
                return self._viewer_missing(authenticated)
            return self._repo_not_found(authenticated)
        if fault.kind == "gated":
            if route == "viewer":
                return viewer_error(404, "ExternalAuthenticatedError", VIEWER_NOT_ACCESSIBLE)
            dataset_id = self._repo_id_of(request.path) or "this dataset"
            return self._gated_error(dataset_id)
        return None

    def _transform(self, fault: Fault, response: Response) -> Response:
        options = fault.options
        if fault.kind == "truncated":
            data = response.get_data()
            fraction = float(options.get("fraction", 0.5))
            cut = data[: max(0, min(len(data) - 1, int(len(data) * fraction)))] if data else data
            response.set_data(cut)
            if options.get("declare_full"):  # werkzeug closes every connection after a response
                response.headers["Content-Length"] = str(len(data))
            return response
        if fault.kind == "schema":
            if not response.mimetype == "application/json":
                return response
            try:
                payload = json.loads(response.get_data())
            except ValueError:
                return response
            if "body" in options:
                payload = options["body"]
            else:
                payload = _reshape(
                    payload, options.get("variant", "wrap"), options.get("keys", ("id", "_id"))
                )
            response.set_data(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
            return response
        return response

    # -- routing ----------------------------------------------------------------------------

    @staticmethod
    def _route_kind(path: str) -> str:
        if path == "/api/datasets" or path == "/api/datasets/":
            return "list"
        if path.startswith("/api/datasets/"):
            parts = path.split("/")[3:]
            if "commits" in parts[1:3]:
                return "commits"
            return "info"
        if path.startswith("/datasets/") and any(
            p in ("resolve", "raw") for p in path.split("/")[3:5]
        ):
            return "file"
        if path in VIEWER_PATHS:
            return "viewer"
        if path == "/api/whoami-v2":
            return "whoami"
        return "unknown"

    def _route(
        self, request: Request, path: str, raw_path: str, route: str, authenticated: bool
    ) -> Response:
        if request.method not in ("GET", "HEAD"):
            return hub_error(405, "Method Not Allowed", header_message=False)
        if route == "list":
            return self._list(request, authenticated)
        if route in ("info", "commits"):
            return self._repo_api(request, raw_path, authenticated)
        if route == "file":
            return self._file(request, raw_path, authenticated)
        if route == "viewer":
            return self._viewer(request, path, authenticated)
        if route == "whoami":
            if not authenticated:
                return hub_error(401, INVALID_TOKEN)
            return json_response(
                {
                    "type": "user",
                    "id": model.hexid(24, "user"),
                    "name": "fakehub-user",
                    "fullname": "Fake Hub User",
                    "isPro": False,
                    "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"role": "read"}},
                }
            )
        return hub_error(
            404, "Sorry, we can't find the page you are looking for.", header_message=False
        )

    @staticmethod
    def _segments(raw_path: str, prefix: str) -> list[str]:
        rest = raw_path[len(prefix) :].strip("/")
        return [unquote(segment) for segment in rest.split("/")] if rest else []

    def _split_repo(
        self, segments: list[str], operations: tuple[str, ...]
    ) -> tuple[str, str | None, list[str]]:
        """(repo id, operation or None, the rest) for ids with or without a namespace."""
        if len(segments) >= 3 and segments[2] in operations:
            return f"{segments[0]}/{segments[1]}", segments[2], segments[3:]
        if (
            len(segments) >= 2
            and segments[1] in operations
            and "/".join(segments[:2]) not in self._datasets
        ):
            return segments[0], segments[1], segments[2:]
        if len(segments) <= 2:
            return "/".join(segments), None, []
        return "/".join(segments[:2]), segments[2], segments[3:]

    def _repo_id_of(self, path: str) -> str | None:
        segments = [s for s in path.split("/") if s]
        if len(segments) >= 2 and segments[0] == "datasets":
            dataset_id, _, _ = self._split_repo(segments[1:], ("resolve", "raw"))
            return dataset_id
        return None

    def _lookup(
        self, dataset_id: str, authenticated: bool, raw_path: str, request: Request
    ) -> model.DatasetView:
        with self._lock:
            dataset = self._datasets.get(dataset_id)
            target = self._redirects.get(dataset_id)
        if dataset is None and target is not None:
            location = raw_path.replace(quote(dataset_id, safe="/"), quote(target, safe="/"), 1)
            if request.query_string:
                location += "?" + request.query_string.decode("latin-1")
            response = json_response(
                {"message": "Moved", "url": location}, 307, {"Location": location}
            )
            raise HubResponse(response)
        if dataset is None:
            raise HubResponse(self._repo_not_found(authenticated))
        view = dataset.view()
        if view.private and not authenticated:
            raise HubResponse(self._repo_not_found(authenticated))
        return view

    @staticmethod
    def _repo_not_found(authenticated: bool) -> Response:
        return hub_error(404 if authenticated else 401, "Repository not found", "RepoNotFound")

    @staticmethod
    def _gated_error(dataset_id: str) -> Response:
        return hub_error(
            403,
            f"Access to dataset {dataset_id} is restricted. You must have access to it and be "
            "authenticated to access it. Please log in.",
            "GatedRepo",
        )

    @staticmethod
    def _resolve_revision(view: model.DatasetView, revision: str) -> int:
        if revision in ("main", "HEAD", "refs/heads/main"):
            return 0
        for index, commit in enumerate(view.commits):
            if commit["id"] == revision or (
                len(revision) >= 7 and commit["id"].startswith(revision)
            ):
                return index
        raise HubResponse(hub_error(404, f"Invalid rev id: {revision}", "RevisionNotFound"))

    # -- /api/datasets ----------------------------------------------------------------------

    @staticmethod
    def _expand_params(request: Request) -> list[str]:
        values = request.args.getlist("expand") + request.args.getlist("expand[]")
        unknown = [value for value in values if value not in EXPAND_FIELDS]
        if unknown:
            raise HubResponse(
                hub_error(400, f'"expand" must be one of {list(EXPAND_FIELDS)}; got {unknown[0]!r}')
            )
        return list(dict.fromkeys(values))

    def _list(self, request: Request, authenticated: bool) -> Response:
        args = request.args
        expand = self._expand_params(request)
        full = _truthy(args.get("full"))
        if expand and full:
            return hub_error(400, '"full" and "expand" cannot be used together')
        sort = args.get("sort") or None
        if sort is not None and sort not in SORTS:
            return hub_error(400, f'"sort" must be one of {list(SORTS)}')
        page_size = self.page_size
        if args.get("limit") is not None:
            try:
                page_size = int(args["limit"])
            except ValueError:
                return hub_error(400, '"limit" must be an integer')
            if page_size < 1:
                return hub_error(400, '"limit" must be a positive integer')
        page_size = min(page_size, self.max_page_size)
        after = None
        if args.get("cursor"):
            try:
                cursor_sort, *after = _decode_cursor(args["cursor"])
            except ValueError:
                return hub_error(400, "Invalid cursor")
            if cursor_sort != (sort or ""):
                return hub_error(400, "Invalid cursor")
        searches = [s.lower() for s in args.getlist("search") if s]
        author = (args.get("author") or "").lower()
        filters = [value for value in args.getlist("filter") if value]
        gated = args.get("gated")
        with self._lock:
            views = [dataset.view() for dataset in self._datasets.values()]
        selected = [
            view
            for view in views
            if (authenticated or not view.private)
            and all(term in view.id_lower for term in searches)
            and (not author or view.author_lower == author)
            and all(value in view.tag_set for value in filters)
            and (gated is None or (view.gated is not False) == _truthy(gated))
        ]

        def key(view: model.DatasetView) -> tuple[float, int]:
            if sort is None:
                return (0, view.seq)
            return (-_sort_value(view, sort), view.seq)

        selected.sort(key=key)
        if after is not None:
            boundary = (after[0], after[1])
            selected = [view for view in selected if key(view) > boundary]
        page = selected[:page_size]
        fields = set(expand) if expand else (FULL_LIST_FIELDS if full else LIST_FIELDS)
        items = [self._select(view, fields) for view in page]
        response = json_response(items)
        if len(selected) > page_size:
            last = key(page[-1])
            params = [(k, v) for k, v in args.items(multi=True) if k != "cursor"]
            params.append(("cursor", _encode_cursor([sort or "", last[0], last[1]])))
            next_url = f"{request.host_url}api/datasets?{urlencode(params)}"
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _value(
        self, view: model.DatasetView, name: str, *, blobs: bool = False, commit: int = 0
    ) -> Any:
        if name == "_id":
            return view.object_id
        if name == "id":
            return view.id
        if name == "author":
            return view.author
        if name == "sha":
            return view.commits[commit]["id"] if commit else view.sha
        if name == "lastModified":
            return iso(view.commits[commit]["date"] if commit else view.last_modified)
        if name == "createdAt":
            return iso(view.created_at)
        if name == "cardData":
            return view.card_data
        if name == "siblings":
            return view.siblings_with_blobs() if blobs else view.siblings
        attribute = {
            "downloadsAllTime": "downloads_all_time",
            "trendingScore": "trending_score",
            "usedStorage": "used_storage",
            "mainSize": "main_size",
            "resourceGroup": "resource_group",
        }.get(name, name)
        return getattr(view, attribute)

    def _select(
        self, view: model.DatasetView, fields: set[str] | frozenset[str], **kwargs: Any
    ) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for name in ITEM_ORDER:
            if name in ("_id", "id") or name in fields:
                value = self._value(view, name, **kwargs)
                if value is None and name in OMIT_WHEN_NONE:
                    continue
                item[name] = value
        return item

    def _info_item(
        self, view: model.DatasetView, expand: list[str] | None, blobs: bool, commit: int
    ) -> dict[str, Any]:
        if expand:
            return self._select(view, set(expand), blobs=blobs, commit=commit)
        item: dict[str, Any] = {}
        for name in INFO_ORDER:
            value = self._value(view, name, blobs=blobs, commit=commit)
            if value is None and name in OMIT_WHEN_NONE:
                continue
            item[name] = value
        return item

    def _repo_api(self, request: Request, raw_path: str, authenticated: bool) -> Response:
        segments = self._segments(raw_path, "/api/datasets")
        dataset_id, operation, rest = self._split_repo(segments, ("revision", "commits"))
        view = self._lookup(dataset_id, authenticated, raw_path, request)
        if operation is None:
            revision = "main"
        elif rest and operation in ("revision", "commits"):
            revision = "/".join(rest)
        else:
            return hub_error(
                404, "Sorry, we can't find the page you are looking for.", header_message=False
            )
        commit = self._resolve_revision(view, revision)
        if operation == "commits":
            return self._commits(request, view, commit)
        expand = self._expand_params(request)
        blobs = _truthy(request.args.get("blobs"))
        if blobs and expand:
            return hub_error(400, '"blobs" and "expand" cannot be used together')
        return json_response(self._info_item(view, expand or None, blobs, commit))

    def _commits(self, request: Request, view: model.DatasetView, start: int) -> Response:
        args = request.args
        try:
            page = int(args.get("p", 0))
            limit = int(args.get("limit", self.commits_page_size))
        except ValueError:
            return hub_error(400, '"p" and "limit" must be integers')
        if page < 0 or limit < 1:
            return hub_error(400, '"p" must be >= 0 and "limit" >= 1')
        limit = min(limit, 1000)
        history = view.commits[start:]
        chunk = history[page * limit : (page + 1) * limit]
        formatted = "formatted" in (args.getlist("expand") + args.getlist("expand[]"))
        items = []
        for commit in chunk:
            item = {
                "id": commit["id"],
                "title": commit["title"],
                "message": commit["message"],
                "authors": commit["authors"],
                "date": iso(commit["date"]),
            }
            if formatted:
                item["formatted"] = {
                    "title": html.escape(commit["title"]),
                    "message": "<p>" + html.escape(commit["message"].strip()) + "</p>"
                    if commit["message"].strip()
                    else "",
                }
            items.append(item)
        response = json_response(items, headers={"X-Total-Count": str(len(history))})
        if (page + 1) * limit < len(history):
            params = [(k, v) for k, v in args.items(multi=True) if k != "p"] + [
                ("p", str(page + 1))
            ]
            raw_path = request.environ.get("fakehub.raw_path") or quote(request.path)
            next_url = f"{request.host_url.rstrip('/')}{raw_path}?{urlencode(params)}"
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    # -- files ------------------------------------------------------------------------------

    def _file(self, request: Request, raw_path: str, authenticated: bool) -> Response:
        segments = self._segments(raw_path, "/datasets")
        dataset_id, operation, rest = self._split_repo(segments, ("resolve", "raw"))
        if operation not in ("resolve", "raw") or len(rest) < 2:
            return hub_error(
                404, "Sorry, we can't find the page you are looking for.", header_message=False
            )
        view = self._lookup(dataset_id, authenticated, raw_path, request)
        if view.disabled:
            return hub_error(403, "Access to this resource is disabled.")
        if view.gated and not authenticated:
            return self._gated_error(view.id)
        commit = self._resolve_revision(view, rest[0])
        file_path = "/".join(rest[1:])
        content = view.file_content(file_path)
        if content is None:
            return hub_error(404, "Entry not found", "EntryNotFound")
        text = file_path.endswith((".md", ".txt", ".gitattributes"))
        content_type = "text/plain; charset=utf-8" if text else "application/octet-stream"
        response = Response(content, status=200, content_type=content_type)
        sha = view.commits[commit]["id"]
        response.headers["X-Repo-Commit"] = sha
        response.headers["ETag"] = f'"{model.hexid(40, view.id, "etag", file_path, len(content))}"'
        return response

    # -- dataset viewer ---------------------------------------------------------------------

    @staticmethod
    def _viewer_missing(authenticated: bool) -> Response:
        if authenticated:
            return viewer_error(404, "ExternalAuthenticatedError", VIEWER_NOT_ACCESSIBLE)
        return viewer_error(401, "ExternalUnauthenticatedError", VIEWER_NOT_ACCESSIBLE)

    def _viewer(self, request: Request, path: str, authenticated: bool) -> Response:
        dataset_id = request.args.get("dataset")
        if not dataset_id:
            return viewer_error(422, "MissingRequiredParameter", "Parameter 'dataset' is required")
        config = request.args.get("config") or None
        with self._lock:
            dataset = self._datasets.get(dataset_id)
        if dataset is None:
            return self._viewer_missing(authenticated)
        view = dataset.view()
        if view.private and not authenticated:
            return viewer_error(401, "ExternalUnauthenticatedError", "Not found.")
        if view.gated and not authenticated:
            return viewer_error(404, "ExternalAuthenticatedError", VIEWER_NOT_ACCESSIBLE)
        if view.disabled:
            return viewer_error(501, "DatasetInBlockListError", VIEWER_BLOCKED)
        if path == "/is-valid":
            return json_response(view.is_valid_payload())
        state = view.viewer_state
        if state == "not_ready":
            return viewer_error(500, "ResponseNotReady", VIEWER_NOT_READY)
        if state == "none":
            return viewer_error(404, "ResponseNotFound", "Not found.")
        if config is not None and config not in view.config_names():
            return viewer_error(404, "ResponseNotFound", "Not found.")
        if config is not None and state in ("ok", "partial") and view.find_config(config) is None:
            return viewer_error(404, "ResponseNotFound", "Not found.")
        if path == "/size":
            return json_response(view.size_payload(config))
        if path == "/info":
            return json_response(view.info_payload(config))
        return json_response(view.splits_payload(config))

    # -- control API (for the standalone server) -------------------------------------------

    def _control(self, request: Request, path: str) -> Response:
        parts = [p for p in path.split("/") if p][1:]
        method = request.method
        try:
            body = request.get_json(silent=True) if method in ("POST", "PATCH", "PUT") else None
            if parts == ["health"]:
                return json_response({"ok": True, "datasets": len(self)})
            if parts == ["faults"]:
                if method == "GET":
                    return json_response([fault.to_dict() for fault in self.faults])
                if method == "DELETE":
                    self.heal()
                    return Response(status=204)
                if method == "POST":
                    if not isinstance(body, dict) or "kind" not in body:
                        return json_response({"error": 'send a JSON object with "kind"'}, 400)
                    options = dict(body)
                    kind = options.pop("kind")
                    times = options.pop("times", None)
                    regex = options.pop("path", None)
                    return json_response(self.fail(kind, times, regex, **options).to_dict(), 201)
            if len(parts) == 2 and parts[0] == "faults" and method == "DELETE":
                self.heal(int(parts[1]))
                return Response(status=204)
            if parts == ["requests"]:
                if method == "GET":
                    return json_response([entry.to_dict() for entry in self.requests])
                if method == "DELETE":
                    self.clear_log()
                    return Response(status=204)
            if parts == ["rate-limit"] and method == "DELETE":
                self.reset_rate_limit()
                return Response(status=204)
            if parts == ["datasets"] and method == "POST":
                records = body if isinstance(body, list) else [body]
                added = self.add_records(records)
                return json_response([dataset.id for dataset in added], 201)
            if len(parts) >= 2 and parts[0] == "datasets":
                tail = parts[1:]
                action = None
                if tail[-1] in ("touch", "rename"):
                    action = tail.pop()
                dataset_id = "/".join(tail)
                if action == "touch" and method == "POST":
                    return json_response(self.touch(dataset_id, **(body or {})), 201)
                if action == "rename" and method == "POST":
                    return json_response({"id": self.rename(dataset_id, body["id"]).id}, 201)
                if method == "PATCH":
                    self.update(dataset_id, **(body or {}))
                    return json_response(self.item(dataset_id))
                if method == "DELETE":
                    self.remove(dataset_id)
                    return Response(status=204)
                if method == "GET":
                    return json_response(self.item(dataset_id))
        except (KeyError, ValueError, TypeError) as error:
            return json_response({"error": str(error)}, 400)
        return json_response({"error": "unknown control endpoint"}, 404)


def _sort_value(view: model.DatasetView, sort: str) -> float:
    if sort == "createdAt":
        return view.created_at.timestamp()
    if sort == "lastModified":
        return view.last_modified.timestamp()
    if sort == "downloads":
        return float(view.downloads)
    if sort == "likes":
        return float(view.likes)
    return float(view.trending_score or 0)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _reshape(payload: Any, variant: str, keys: Iterable[str]) -> Any:
    """Valid JSON of the wrong shape, for the `schema` fault."""
    if variant == "wrap":
        return {"items": payload} if isinstance(payload, list) else [payload]
    if variant == "drop_ids":
        drop = set(keys)

        def strip(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k not in drop}
            if isinstance(value, list):
                return [strip(v) for v in value]
            return value

        return strip(payload)
    if variant == "types":

        def stringify(value: Any) -> Any:
            if isinstance(value, bool) or value is None:
                return value
            if isinstance(value, int | float):
                return f"{value:,}"
            if isinstance(value, dict):
                return {k: stringify(v) for k, v in value.items()}
            if isinstance(value, list):
                return [stringify(v) for v in value]
            return value

        return stringify(payload)
    if variant == "null":
        return None
    raise ValueError(f"unknown schema variant {variant!r}")
