"""Load benchmark (#9): simulated users on the production stack and on the embedded default.

Run from the repository root (see bench/README.md, "Load"); it takes about 15 minutes:

    .venv/bin/python bench/load.py --write-readme           # both stacks, 50 users, 3 minutes
    .venv/bin/python bench/load.py --stacks embedded --users 10 --duration 30 --datasets 10000

For each stack a fresh database gets the real catalog (DATASET_EXPLORER_SHARED, default
../shared) plus copies up to `--datasets` (100,000 by default) through the real importer, with
bench/search.py's code; the `--embed` most downloaded real datasets are embedded (not the rest:
at ~8 texts/s that would take hours; no topic model either, which would embed everything).
Then the servers start, with tests/stack/harness.py's code:

- production: PostgreSQL (database dataset_explorer_load), Redis (database 8), the fake Hub,
  gunicorn with 2 workers through deploy/entrypoint.sh, an RQ worker, nginx with
  deploy/nginx.conf in front; the users talk to nginx;
- embedded: SQLite, gunicorn with 1 worker (4 threads) through the same script, no Redis, no
  nginx, jobs in a thread of the web process: the one-process default.

The Hub is always the fake Hub (tests/fakehub) serving the real catalog and its cards, so no
page calls out to the internet. The users are locust users (locust as a library, headless),
run in a child process (`--generate`, gevent) so the set-up code here never runs under gevent's
monkey-patching. Each user has its own loopback source address (127.0.x.y), its own account
(registered and signed in through the app before the timed window, like every other set-up
request) and two combinations; the timed window then runs the mix in MIX below with a think
time between requests. Two baselines run in the same window: the sign-in form fragment (a
fragment with no data behind it: session, CSRF token, template) and /health.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

README = BENCH / "README.md"
RESULTS_START = "<!-- load-results:start -->"
RESULTS_END = "<!-- load-results:end -->"
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/"
LOAD_DATABASE = "dataset_explorer_load"
LOAD_REDIS_URL = "redis://127.0.0.1:6379/8"
PASSWORD = "a long unusual passphrase for load 42"
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
AIM_P95_MS = 300.0
AIM_RATIO = 5.0

# (key, what is requested, weight, the group). The weights are the mix.
MIX = (
    ("search_fixed", "GET /datasets?… htmx fragment: the 50 queries of bench/search.py", 20, "B"),
    ("search_random", "GET /datasets?… htmx fragment: random words, facets, sorts", 20, "B"),
    ("browse_page", "GET /datasets?… whole page (facet or sort, no text)", 10, "B"),
    ("dataset_page", "GET /datasets/<id> (card, sizes, columns, similar)", 20, "D"),
    ("follow", "POST /follows/<id> follow / unfollow (htmx)", 10, "F"),
    ("member_edit", "POST /combinations/<id>/members/<id> add / remove (htmx)", 7, "C"),
    ("naive_report", "POST /combinations/<id>/mix (htmx: the naive report)", 8, "C"),
    (
        "semantic_report",
        "GET /combinations/<id> (report page with the semantic part, warm)",
        5,
        "S",
    ),
)
BASELINES = (
    ("static_fragment", "GET /auth/login (htmx: the sign-in form fragment), baseline", 5, "-"),
    ("health", "GET /health (liveness, no template), floor", 2, "-"),
)
GROUPS = {
    "B": "browse and search",
    "D": "dataset page",
    "F": "follow toggles",
    "C": "combination edits and naive report",
    "S": "semantic report, warm",
}
SEARCHED = ("search_fixed", "search_random", "browse_page")
SORTS = ("relevance", "downloads", "likes", "trending", "updated", "created", "name")


def say(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value at or above `fraction` of the samples)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


def source_address(number: int) -> str:
    """Each simulated user connects from its own loopback address (the app's per-address rate
    limits see 50 people, not one)."""
    return f"127.0.{1 + number // 200}.{10 + number % 200}"


# ================================================================================================
# The catalog.
# ================================================================================================
def build_catalog(url: str, database: str, size: int, embed_count: int) -> dict:
    """Migrate, import the real catalog and copies up to `size`, embed the `embed_count` most
    downloaded real datasets; return what the users need to know."""
    import search  # bench/search.py: its catalog code, reused as it is
    import sqlalchemy as sa

    from app.catalog.importer import ImportSummary, import_records
    from app.catalog.store import dataset_count
    from app.embeddings.model import embedder_for
    from app.embeddings.store import embed_datasets
    from app.extensions import db
    from app.models import Dataset

    real = search.read_real_records(search.shared_catalog_dir())
    if size < len(real):
        sys.exit(f"bench/load.py: --datasets {size} is below the real catalog's {len(real):,}")
    application = search.make_app(url)
    began = time.perf_counter()
    summary = ImportSummary()
    with application.app_context():
        import_records(db.session, "real catalog", list(enumerate(real, start=1)), summary)
        taken = {record.repo_id for record in real}
        extra = list(search.replica_records(real, size - len(real), taken))
        if extra:
            import_records(db.session, "replicas", extra, summary)
        count = dataset_count(db.session)
        db.session.remove()
    search.after_import(application, database)
    imported = time.perf_counter() - began
    say(f"{database}: {count:,} datasets imported in {imported:.0f} s")

    real_ids = sorted(record.repo_id for record in real)  # `taken` has the copies' ids too now
    with application.app_context():
        rows = db.session.execute(
            sa.select(Dataset.id, Dataset.repo_id)
            .where(Dataset.repo_id.in_(real_ids))
            .where(sa.func.length(Dataset.description) > 0)
            .order_by(Dataset.downloads.desc().nulls_last(), Dataset.repo_id)
            .limit(embed_count)
        ).all()
        pool = [repo_id for _, repo_id in rows]
        began = time.perf_counter()
        embedder = embedder_for(application)
        embedded = embed_datasets(db.session, embedder, [dataset_id for dataset_id, _ in rows])
        embed_seconds = time.perf_counter() - began
        say(f"{database}: {embedded} ({embed_seconds:.0f} s)")
        # No topic model: fitting one embeds every dataset first (hours at 100,000), and no
        # request of the mix reads it.
        everything = list(db.session.scalars(sa.select(Dataset.repo_id)))
        db.session.remove()
        db.engine.dispose()

    rng = random.Random(9)
    words = Counter()
    for record in real:
        text = f"{record.repo_id.split('/')[-1]} {record.description or ''}".lower()
        words.update(w for w in re.findall(r"[a-z]{4,14}", text))
    vocabulary = [word for word, _ in words.most_common(3000)[50:]]  # not the commonest
    return {
        "datasets": count,
        "import_seconds": round(imported, 1),
        "embedded": len(pool),
        "embed_seconds": round(embed_seconds, 1),
        "pool": pool,  # embedded, known to the fake Hub: dataset pages and combination members
        "follow_targets": rng.sample(everything, min(5000, len(everything))),
        "real_sample": rng.sample(real_ids, min(2000, len(real_ids))),
        "vocabulary": vocabulary,
        "fixed_queries": [search.query_url(params) for params in search.QUERIES],
    }


# ================================================================================================
# The servers, started with the stack test's harness.
# ================================================================================================
def start_servers(kind: str, run_dir: Path, database_url: str, redis_url: str):
    """(stack, base URL): the fake Hub and the app, as `kind` says; stack.stop() ends them."""
    import requests

    from tests.stack import harness

    catalog = search_catalog_files()
    stack = harness.Stack(run_dir=run_dir)
    try:
        for name in ("instance", "metrics"):
            (run_dir / name).mkdir()
        stack.database_url = database_url
        stack.gunicorn_port, hub_port = harness.free_port(), harness.free_port()
        stack.hub_url = f"http://127.0.0.1:{hub_port}"
        keep = {
            name: value
            for name, value in os.environ.items()
            if name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
        }
        stack.env = {
            **keep,
            "PATH": f"{harness.VENV_BIN}{os.pathsep}{keep.get('PATH', '/usr/bin:/bin')}",
            "PYTHONUNBUFFERED": "1",
            "DATASET_EXPLORER_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "HF_ENDPOINT": stack.hub_url,
            "HF_DATASETS_SERVER": stack.hub_url,
            "DATASET_EXPLORER_INSTANCE": str(run_dir / "instance"),
            "PROMETHEUS_MULTIPROC_DIR": str(run_dir / "metrics"),
            "WEB_CONCURRENCY": "2" if kind == "production" else "1",
            "GUNICORN_BIND": f"127.0.0.1:{stack.gunicorn_port}",
            "GUNICORN_ACCESS_LOG": str(stack.access_log),
            "LOAD_STARTER_CATALOG": "0",
        }
        if kind == "production":
            stack.env |= {"REDIS_URL": redis_url, "TRUSTED_PROXIES": "1"}

        command = [sys.executable, "-m", "tests.fakehub", "--catalog", *catalog[0]]
        if catalog[1]:
            command += ["--cards", catalog[1]]
        say(f"fake Hub with the real catalog on {stack.hub_url}")
        stack.spawn("fakehub", [*command, "--port", str(hub_port), "--no-rate-limit"])
        harness.wait_for(
            "the fake Hub",
            lambda: requests.get(stack.hub_url + "/api/datasets?limit=1", timeout=2).ok,
            120,
        )
        workers = stack.env["WEB_CONCURRENCY"]
        say(f"deploy/entrypoint.sh: gunicorn ({workers} worker(s)) on :{stack.gunicorn_port}")
        stack.spawn("web", ["sh", str(ROOT / "deploy" / "entrypoint.sh")])

        def web_up() -> bool:
            stack.alive("web")
            return requests.get(f"http://127.0.0.1:{stack.gunicorn_port}/health", timeout=2).ok

        harness.wait_for("gunicorn answering /health", web_up, 120)
        if kind == "embedded":
            return stack, f"http://127.0.0.1:{stack.gunicorn_port}"

        say("deploy/worker.sh: an RQ worker")
        stack.spawn("worker", ["sh", str(ROOT / "deploy" / "worker.sh")])
        nginx = harness.ensure_nginx()
        stack.nginx_port = harness.free_port()
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (run_dir / "temp" / name).mkdir(parents=True)
        conf = run_dir / "nginx.conf"
        conf.write_text(
            harness.render_nginx_conf(stack.gunicorn_port, stack.nginx_port, ROOT, run_dir)
        )
        base = [nginx, "-p", str(run_dir), "-c", str(conf), "-e", str(run_dir / "nginx-error.log")]
        say(f"nginx (deploy/nginx.conf) on :{stack.nginx_port}")
        stack.spawn("nginx", [*base, "-g", "daemon off;"])

        def nginx_up() -> bool:
            stack.alive("nginx")
            return requests.get(stack.url + "/health", timeout=2).ok

        harness.wait_for("nginx proxying /health", nginx_up, 30)
        return stack, stack.url
    except BaseException:
        for service in stack.services.values():
            say(f"--- last lines of {service.name} ---\n{service.tail()}")
        stack.stop()
        raise


def search_catalog_files() -> tuple[list[str], str | None]:
    import search

    folder = search.shared_catalog_dir()
    cards = folder / "cards"
    return [str(folder / name) for name in search.CATALOG_FILES], (
        str(cards) if cards.is_dir() else None
    )


def reset_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()  # this database number only
    finally:
        client.close()


def server_log_problems(stack) -> dict:
    """What the servers said about the run: 5xx in gunicorn's access log, tracebacks and worker
    timeouts in the web process's output."""
    statuses = Counter(str(record.get("status")) for record in stack.access_records())
    web_log = stack.services["web"].log.read_text(errors="replace")
    return {
        "access_log_statuses": dict(sorted(statuses.items())),
        "access_log_5xx": sum(n for status, n in statuses.items() if status.startswith("5")),
        "tracebacks_in_web_log": web_log.count("Traceback (most recent call last)"),
        "worker_timeouts": web_log.count("WORKER TIMEOUT"),
    }


# ================================================================================================
# One stack: catalog, servers, the users (in a child process), the servers' logs.
# ================================================================================================
def run_stack(kind: str, args: argparse.Namespace, workdir: Path) -> dict:
    import search

    say(f"=== {kind} stack ===")
    run_dir = workdir / kind
    run_dir.mkdir()
    if kind == "production":
        database_url = search.recreate_postgresql(args.postgresql_url, args.postgresql_database)
        reset_redis(args.redis_url)
        database = "postgresql"
    else:
        database_url = f"sqlite:///{run_dir / 'load.db'}"
        database = "sqlite"
    os.environ["DATASET_EXPLORER_INSTANCE"] = str(run_dir / "setup-instance")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    catalog = build_catalog(database_url, database, args.datasets, args.embed)
    stack, base_url = start_servers(kind, run_dir, database_url, args.redis_url)
    try:
        plan = {
            "kind": kind,
            "base_url": base_url,
            "users": args.users,
            "duration": args.duration,
            "think": args.think,
            "setup_concurrency": 4,
            "seed": 20261126,
            # CPU accounting: the servers' process groups (not the fake Hub: it stands for the
            # Hub) and PostgreSQL's backends for this database.
            "server_groups": [
                service.process.pid for name, service in stack.services.items() if name != "fakehub"
            ],
            "postgresql_database": args.postgresql_database if kind == "production" else None,
            **catalog,
        }
        plan_path, out_path = run_dir / "plan.json", run_dir / "result.json"
        plan_path.write_text(json.dumps(plan))
        say(f"{args.users} users for {args.duration} s against {base_url} (a child process)")
        generator = subprocess.run(
            [sys.executable, __file__, "--generate", str(plan_path), "--out", str(out_path)],
            cwd=ROOT,
        )
        if generator.returncode != 0:
            tail = stack.services["web"].tail(80)
            say(f"--- the users stopped; last lines of the web log ---\n{tail}")
            raise SystemExit(f"bench/load.py: the {kind} run failed")
        result = json.loads(out_path.read_text())
        result["server"] = server_log_problems(stack)
    finally:
        stack.stop()
        args.logs.mkdir(parents=True, exist_ok=True)
        for log in run_dir.glob("*.log"):
            shutil.copy(log, args.logs / f"{kind}-{log.name}")
        say(f"the servers' logs are in {args.logs}")
    if kind == "production" and not args.keep_databases:
        search.drop_postgresql(args.postgresql_url, args.postgresql_database)
    result |= {
        "stack": kind,
        "database": database,
        "datasets": catalog["datasets"],
        "import_seconds": catalog["import_seconds"],
        "embedded": catalog["embedded"],
    }
    return result


# ================================================================================================
# The users (child process, under gevent).
# ================================================================================================
def server_cpu(plan: dict) -> float:
    """CPU seconds used so far by the servers' processes (their process groups) and by the
    PostgreSQL backends of the load database, from /proc."""
    groups = set(plan["server_groups"])
    database = plan.get("postgresql_database")
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        ours = int(fields[2]) in groups or (
            database is not None and command.startswith("postgres:") and f" {database} " in command
        )
        if ours:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def generate(plan_path: Path, out_path: Path) -> None:
    """Set up the users' accounts and combinations, then run the timed mix with locust."""
    from gevent import monkey

    monkey.patch_all()  # what importing locust does; first, before ssl and requests
    import gevent
    import requests
    from gevent.pool import Pool
    from locust import HttpUser, between, events
    from locust.env import Environment
    from requests.adapters import HTTPAdapter

    plan = json.loads(plan_path.read_text())
    base = plan["base_url"]
    pool, vocabulary = plan["pool"], plan["vocabulary"]

    class SourceAddress(HTTPAdapter):
        def __init__(self, address: str) -> None:
            self.address = address
            super().__init__()

        def init_poolmanager(self, *a, **kw) -> None:
            kw["source_address"] = (self.address, 0)
            super().init_poolmanager(*a, **kw)

    from requests.cookies import RequestsCookieJar

    class LoopbackJar(RequestsCookieJar):
        """Sends the app's Secure cookies back over http://127.0.0.1, as a browser does
        (loopback is a secure context); Python's cookie jar keeps them for https only."""

        def set_cookie(self, cookie, *args, **kwargs):
            cookie.secure = False
            return super().set_cookie(cookie, *args, **kwargs)

    def prepare_session(session: requests.Session, number: int) -> None:
        session.mount("http://", SourceAddress(source_address(number)))
        session.cookies = LoopbackJar()

    def token_of(response) -> str:
        match = CSRF_RE.search(response.text)
        if not match:
            raise RuntimeError(f"no CSRF token on {response.url} ({response.status_code})")
        return match.group(1)

    def expect(response, *statuses: int):
        if response.status_code not in statuses:
            raise RuntimeError(
                f"set-up: {response.request.method} {response.url} answered "
                f"{response.status_code}: {response.text[:300]}"
            )
        return response

    def new_combination(session, token: str, name: str, members: list[str]) -> int:
        answer = expect(
            session.post(
                base + "/combinations",
                data={"name": name, "csrf_token": token},
                allow_redirects=False,
                timeout=60,
            ),
            303,
        )
        number = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
        for repo_id in members:
            expect(
                session.post(
                    f"{base}/combinations/{number}/members/{repo_id}",
                    data={"action": "add", "csrf_token": token},
                    allow_redirects=False,
                    timeout=60,
                ),
                303,
            )
        return number

    setup_problems: list[str] = []

    def warm(session, url: str) -> None:
        """A set-up request that must succeed; a 5xx is written down (and reported) and the
        request tried once more."""
        response = session.get(url, timeout=120)
        if response.status_code >= 500:
            setup_problems.append(f"{response.status_code} on GET {url}")
            response = session.get(url, timeout=120)
        expect(response, 200)

    def set_up(number: int) -> dict:
        rng = random.Random(plan["seed"] + number)
        session = requests.Session()
        prepare_session(session, number)
        email = f"load-{number}-{secrets.token_hex(3)}@example.org"
        token = token_of(expect(session.get(base + "/auth/register", timeout=60), 200))
        form = {"email": email, "password": PASSWORD, "csrf_token": token}
        expect(session.post(base + "/auth/register", data=form, allow_redirects=False), 303)
        token = token_of(expect(session.get(base + "/auth/login", timeout=60), 200))
        form["csrf_token"] = token
        expect(session.post(base + "/auth/login", data=form, allow_redirects=False), 303)
        token = token_of(expect(session.get(base + "/combinations", timeout=60), 200))
        edits = rng.sample(plan["real_sample"], 3)
        members = rng.sample(pool, 5)
        edited = new_combination(session, token, f"load {number} edits", edits)
        semantic = new_combination(session, token, f"load {number} meaning", members)
        # Warm: the report (Hub facts fetched, vectors read, the model loaded) once each.
        for number in (semantic, edited):
            warm(session, f"{base}/combinations/{number}")
        return {
            "number": number,
            "cookies": [(c.name, c.value, c.domain, c.path) for c in session.cookies if c.value],
            "token": token,
            "edited": edited,
            "edited_members": edits,
            "semantic": semantic,
        }

    started_setup = time.perf_counter()
    workers = Pool(plan["setup_concurrency"])
    profiles = workers.map(set_up, range(plan["users"]))
    # Warm the dataset pages (a popular page is in the Hub cache on a live site).
    anonymous = requests.Session()
    prepare_session(anonymous, plan["users"])
    workers.map(lambda repo_id: warm(anonymous, f"{base}/datasets/{repo_id}"), pool)
    setup_seconds = time.perf_counter() - started_setup
    say(f"set-up: {len(profiles)} accounts, 2 combinations each, {len(pool)} pages warmed")

    samples: dict[str, list[float]] = {key: [] for key, *_ in MIX + BASELINES}
    statuses: dict[str, Counter] = {key: Counter() for key in samples}
    failures: dict[str, Counter] = {key: Counter() for key in samples}
    profile_numbers = iter(range(len(profiles)))

    def record(request_type, name, response_time, response_length, exception=None, **kw):
        samples[name].append(response_time)

    def fragment(token: str | None = None) -> dict:
        headers = {"HX-Request": "true"}
        if token:
            headers["X-CSRFToken"] = token
        return headers

    def random_query(rng: random.Random) -> str:
        from urllib.parse import urlencode

        words = rng.sample(vocabulary, rng.choice((1, 1, 2, 2, 3)))
        if rng.random() < 0.3:  # the last word still being typed
            words[-1] = words[-1][: rng.randint(2, max(2, len(words[-1]) - 1))]
        params = [("q", " ".join(words))]
        roll = rng.random()
        if roll < 0.2:
            params.append(("modality", rng.choice(("text", "image", "audio", "tabular"))))
        elif roll < 0.35:
            params.append(("language", rng.choice(("en", "fr", "de", "es", "zh"))))
        if rng.random() < 0.4:
            params.append(("sort", rng.choice(SORTS)))
        if rng.random() < 0.15:
            params.append(("page", str(rng.randint(2, 5))))
        return "/datasets?" + urlencode(params)

    def browse_query(rng: random.Random) -> str:
        from urllib.parse import urlencode

        params = [("sort", rng.choice(SORTS[1:]))]
        roll = rng.random()
        if roll < 0.4:
            params.append(("modality", rng.choice(("text", "image", "audio"))))
        elif roll < 0.7:
            params.append(("task", rng.choice(("text-classification", "question-answering"))))
        if rng.random() < 0.3:
            params.append(("page", str(rng.randint(2, 20))))
        return "/datasets?" + urlencode(params)

    class Visitor(HttpUser):
        abstract = True
        host = base
        wait_time = between(*plan["think"])

        def on_start(self) -> None:
            self.profile = profiles[next(profile_numbers)]
            prepare_session(self.client, self.profile["number"])
            for name, value, domain, path in self.profile["cookies"]:
                self.client.cookies.set(name, value, domain=domain, path=path)
            self.rng = random.Random(plan["seed"] * 7 + self.profile["number"])
            self.anonymous = requests.Session()
            prepare_session(self.anonymous, self.profile["number"])
            self.following: set[str] = set()
            self.extra_member: str | None = None

        def hit(self, key: str, method: str, path: str, ok=(200,), client=None, **kwargs):
            client = client or self.client
            kwargs.setdefault("timeout", 60)
            began = time.perf_counter()
            try:
                response = client.request(method, base + path, allow_redirects=False, **kwargs)
            except requests.RequestException as error:
                elapsed = (time.perf_counter() - began) * 1000
                samples[key].append(elapsed)
                statuses[key]["error"] += 1
                failures[key][type(error).__name__] += 1
                return None
            elapsed = (time.perf_counter() - began) * 1000
            if client is not self.client:  # locust's client records itself
                samples[key].append(elapsed)
            statuses[key][str(response.status_code)] += 1
            if response.status_code == 0:  # locust's answer to a connection error: say which
                error = getattr(response, "error", None)
                failures[key][f"no answer: {type(error).__name__}: {str(error)[:160]}"] += 1
            elif response.status_code not in ok:
                failures[key][f"status {response.status_code}"] += 1
            elif "Traceback (most recent call last)" in response.text:
                failures[key]["traceback in the body"] += 1
            return response

        def request_named(self, key, method, path, **kwargs):
            # Through locust's HttpSession (name=key): its request event feeds `samples`.
            return self.hit(key, method, path, name=key, **kwargs)

        def search_fixed(self) -> None:
            path = self.rng.choice(plan["fixed_queries"])
            # A page past the end is a 400 with a notice and the last page: as designed.
            self.request_named("search_fixed", "GET", path, ok=(200, 400), headers=fragment())

        def search_random(self) -> None:
            path = random_query(self.rng)
            self.request_named("search_random", "GET", path, ok=(200, 400), headers=fragment())

        def browse_page(self) -> None:
            self.request_named("browse_page", "GET", browse_query(self.rng), ok=(200, 400))

        def dataset_page(self) -> None:
            self.request_named("dataset_page", "GET", "/datasets/" + self.rng.choice(pool))

        def follow(self) -> None:
            if self.following and self.rng.random() < 0.5:
                repo_id, action = self.following.pop(), "unfollow"
            else:
                repo_id, action = self.rng.choice(plan["follow_targets"]), "follow"
                self.following.add(repo_id)
            self.request_named(
                "follow",
                "POST",
                f"/follows/{repo_id}",
                data={"action": action},
                headers=fragment(self.profile["token"]),
            )

        def member_edit(self) -> None:
            number = self.profile["edited"]
            if self.extra_member:
                repo_id, action, self.extra_member = self.extra_member, "remove", None
            else:
                repo_id = self.rng.choice(plan["real_sample"])
                if repo_id in self.profile["edited_members"]:
                    return
                action, self.extra_member = "add", repo_id
            self.request_named(
                "member_edit",
                "POST",
                f"/combinations/{number}/members/{repo_id}",
                data={"action": action},
                headers=fragment(self.profile["token"]),
            )

        def naive_report(self) -> None:
            method = self.rng.choice(("proportional", "equal", "temperature"))
            self.request_named(
                "naive_report",
                "POST",
                f"/combinations/{self.profile['edited']}/mix",
                data={
                    "method": method,
                    "temperature": str(self.rng.choice((0.5, 1, 2))),
                    "strategy": self.rng.choice(("first_exhausted", "all_exhausted")),
                    "seed": str(self.rng.randint(0, 1000)),
                },
                headers=fragment(self.profile["token"]),
            )

        def semantic_report(self) -> None:
            self.request_named(
                "semantic_report", "GET", f"/combinations/{self.profile['semantic']}"
            )

        def static_fragment(self) -> None:
            # Signed out (a signed-in visitor is sent on): the form, the session, the token.
            self.hit(
                "static_fragment", "GET", "/auth/login", headers=fragment(), client=self.anonymous
            )

        def health(self) -> None:
            self.request_named("health", "GET", "/health")

    # Locust reads the weights when the class is made: a subclass carrying them.
    weighted = {getattr(Visitor, key): weight for key, _, weight, _ in MIX + BASELINES}
    Weighted = type("Weighted", (Visitor,), {"tasks": weighted, "abstract": False})

    environment = Environment(user_classes=[Weighted], events=events)
    environment.events.request.add_listener(record)
    runner = environment.create_local_runner()
    loads: list[tuple[float, float, float]] = []

    def sample_load() -> None:
        while True:
            loads.append(os.getloadavg())
            gevent.sleep(10)

    sampler = gevent.spawn(sample_load)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    servers_before, machine_before = server_cpu(plan), machine_cpu()
    began = time.perf_counter()
    runner.start(plan["users"], spawn_rate=plan["users"])
    gevent.spawn_later(plan["duration"], runner.quit)
    runner.greenlet.join()
    elapsed = time.perf_counter() - began
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    servers_after, machine_after = server_cpu(plan), machine_cpu()
    sampler.kill()
    loads.append(os.getloadavg())

    endpoints = {}
    for key, label, weight, group in MIX + BASELINES:
        values = samples[key]
        count = sum(statuses[key].values())
        endpoints[key] = {
            "label": label,
            "weight": weight,
            "group": group,
            "requests": count,
            "failures": sum(failures[key].values()),
            "failure_kinds": dict(failures[key]),
            "statuses": dict(statuses[key]),
            "rps": count / elapsed,
            "p50_ms": percentile(values, 0.50),
            "p95_ms": percentile(values, 0.95),
            "p99_ms": percentile(values, 0.99),
            "max_ms": max(values) if values else float("nan"),
            "mean_ms": statistics.fmean(values) if values else float("nan"),
        }
    total = sum(e["requests"] for e in endpoints.values())
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    out_path.write_text(
        json.dumps(
            {
                "users": plan["users"],
                "duration_s": elapsed,
                "think_s": plan["think"],
                "setup_s": setup_seconds,
                "setup_5xx": setup_problems,
                "requests": total,
                "rps": total / elapsed,
                "failures": sum(e["failures"] for e in endpoints.values()),
                "load_average_samples": loads,
                "generator_cpu_s": cpu,
                "server_cpu_s": servers_after - servers_before,
                # Busy share of the whole machine (all cores) during the window, everyone's.
                "machine_busy": (machine_after[0] - machine_before[0])
                / max(1e-9, machine_after[1] - machine_before[1]),
                "endpoints": endpoints,
            },
            indent=1,
        )
    )


# ================================================================================================
# The report.
# ================================================================================================
def server_line(result: dict) -> str:
    """The servers' CPU per request, and what that allows on two free cores."""
    if "server_cpu_s" not in result:
        return ""
    per_request = result["server_cpu_s"] / max(1, result["requests"])
    return (
        f"The servers (gunicorn; in production also nginx, the RQ worker and PostgreSQL's "
        f"backends) used "
        f"{result['server_cpu_s']:.0f} s of CPU, {per_request * 1000:.0f} ms a request: two "
        f"free cores would serve at most ~{2 / per_request:.0f} requests/s of this mix. The "
        f"machine was {result['machine_busy']:.0%} busy (all cores, everyone's work)."
        if per_request
        else ""
    )


def fmt(value: float) -> str:
    return "–" if value != value else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def stack_table(result: dict) -> str:
    endpoints = result["endpoints"]
    baseline = endpoints["static_fragment"]
    lines = [
        "| request | share | requests | req/s | failures | p50 ms | p95 ms | p99 ms | max ms "
        "| p50 ÷ baseline | p95 ÷ baseline |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    weights = sum(e["weight"] for e in endpoints.values())
    for entry in endpoints.values():
        ratio50 = entry["p50_ms"] / baseline["p50_ms"] if baseline["p50_ms"] else float("nan")
        ratio95 = entry["p95_ms"] / baseline["p95_ms"] if baseline["p95_ms"] else float("nan")
        lines.append(
            f"| {entry['label']} | {entry['weight'] / weights:.0%} | {entry['requests']:,} | "
            f"{entry['rps']:.1f} | {entry['failures']} | {fmt(entry['p50_ms'])} | "
            f"{fmt(entry['p95_ms'])} | {fmt(entry['p99_ms'])} | {fmt(entry['max_ms'])} | "
            f"{ratio50:.1f}× | {ratio95:.1f}× |"
        )
    return "\n".join(lines)


def verdicts(result: dict) -> list[str]:
    endpoints = result["endpoints"]
    baseline = endpoints["static_fragment"]["p95_ms"]
    baseline50 = endpoints["static_fragment"]["p50_ms"]
    worst = max((e["p95_ms"], k) for k, e in endpoints.items())
    searched = max(endpoints[k]["p95_ms"] for k in SEARCHED)
    statuses = Counter()
    for entry in endpoints.values():
        statuses.update(entry["statuses"])
    server = result["server"]
    return [
        f"failures: {result['failures']} of {result['requests']:,} requests "
        f"({result['failures'] / max(1, result['requests']):.2%}); statuses "
        + ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items())),
        f"set-up (before the timed window): {len(result['setup_5xx'])} 5xx"
        + (f" ({'; '.join(result['setup_5xx'][:3])})" if result["setup_5xx"] else ""),
        f"server side (set-up included): {server['access_log_5xx']} 5xx in gunicorn's access "
        "log, "
        f"{server['tracebacks_in_web_log']} tracebacks and {server['worker_timeouts']} worker "
        "timeouts in the web log",
        f"p95 under {AIM_P95_MS:.0f} ms for every request kind: "
        + (
            "**yes**" if worst[0] < AIM_P95_MS else f"**no** (worst: {worst[1]}, {worst[0]:.0f} ms)"
        ),
        *(
            f"searched pages within {AIM_RATIO:g}× the baseline at {at}: "
            + (
                "**yes**"
                if slowest <= AIM_RATIO * floor
                else f"**no** ({slowest:.0f} ms ÷ {floor:.1f} ms = {slowest / floor:.1f}×)"
            )
            for at, slowest, floor in (
                ("p50", max(endpoints[k]["p50_ms"] for k in SEARCHED), baseline50),
                ("p95", searched, baseline),
            )
        ),
    ]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc {os.cpu_count()} ({cpu}); Python {platform.python_version()}"


def loads_text(samples: list) -> str:
    ones = [s[0] for s in samples]
    return f"{min(ones):.1f} to {max(ones):.1f} (1-minute, sampled every 10 s)" if ones else "–"


def results_section(results: list[dict], command: str, started_at: datetime) -> str:
    parts = [
        RESULTS_START,
        "### Load results",
        "",
        f"Run on {started_at:%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
        "",
        "Command:",
        "",
        "```sh",
        command,
        "```",
    ]
    for result in results:
        title = (
            "production stack: nginx, gunicorn 2 workers × 4 threads, PostgreSQL, Redis, RQ worker"
            if result["stack"] == "production"
            else "embedded default: gunicorn 1 worker × 4 threads, SQLite, no Redis, no nginx"
        )
        parts += [
            "",
            f"#### {title}",
            "",
            f"{result['users']} users, {result['duration_s']:.0f} s, think time "
            f"{result['think_s'][0]:g}–{result['think_s'][1]:g} s; {result['datasets']:,} "
            f"datasets ({result['embedded']} embedded); {result['requests']:,} requests, "
            f"**{result['rps']:.1f} requests/s**. Load average during the run: "
            f"{loads_text(result['load_average_samples'])}; the load generator itself used "
            f"{result['generator_cpu_s']:.0f} s of CPU "
            f"({result['generator_cpu_s'] / result['duration_s']:.0%} of one core). "
            + server_line(result),
            "",
            stack_table(result),
            "",
            *(f"- {line}" for line in verdicts(result)),
        ]
    parts.append(RESULTS_END)
    return "\n".join(parts)


def write_readme(section: str) -> None:
    from readme_section import replace_section  # bench/, the script's own folder

    replace_section(README, RESULTS_START, RESULTS_END, section)


def parse_think(raw: str) -> tuple[float, float]:
    low, _, high = raw.partition(",")
    values = (float(low), float(high or low))
    if values[0] < 0 or values[1] < values[0]:
        raise argparse.ArgumentTypeError("--think takes MIN,MAX seconds with 0 <= MIN <= MAX")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stacks",
        default="production,embedded",
        help="comma-separated: production, embedded (default: both)",
    )
    parser.add_argument("--users", type=int, default=50, help="simulated users (default 50)")
    parser.add_argument(
        "--duration", type=float, default=180, help="seconds of the timed window (default 180)"
    )
    parser.add_argument(
        "--think",
        type=parse_think,
        default=(1.0, 3.0),
        help="MIN,MAX seconds each user waits between requests (default 1,3)",
    )
    parser.add_argument(
        "--datasets", type=int, default=100_000, help="catalog size (default 100,000)"
    )
    parser.add_argument(
        "--embed",
        type=int,
        default=300,
        help="the N most downloaded real datasets embedded: the dataset pages visited and the "
        "combinations' members (default 300)",
    )
    parser.add_argument(
        "--postgresql-url",
        default=os.environ.get("BENCH_POSTGRESQL_URL", DEFAULT_POSTGRESQL_URL),
    )
    parser.add_argument(
        "--postgresql-database",
        default=os.environ.get("LOAD_POSTGRESQL_DATABASE", LOAD_DATABASE),
        help=f"dropped and recreated (default {LOAD_DATABASE})",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("LOAD_REDIS_URL", LOAD_REDIS_URL),
        help=f"its database is flushed (default {LOAD_REDIS_URL})",
    )
    parser.add_argument("--keep-databases", action="store_true")
    parser.add_argument(
        "--logs",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dataset-explorer-load-logs",
        help="folder the servers' logs are copied to after each run",
    )
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument(
        "--write-readme", action="store_true", help="rewrite bench/README.md's part"
    )
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    if not args.stacks or set(args.stacks) - {"production", "embedded"}:
        parser.error("--stacks takes production and/or embedded")
    if args.users < 1 or args.duration <= 0:
        parser.error("--users and --duration must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.generate:
        generate(args.generate, args.out)
        return
    started_at = datetime.now(UTC)
    command = ".venv/bin/python bench/load.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="dataset-explorer-load-") as tmp:
        for kind in args.stacks:
            results.append(run_stack(kind, args, Path(tmp)))
    for result in results:
        print(f"\n{result['stack']}: {result['rps']:.1f} requests/s")
        print(stack_table(result))
        for line in verdicts(result):
            print(f"- {line}")
        print(server_line(result))
    payload = {"date": started_at.isoformat(), "command": command.strip(), "runs": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"results written to {args.json}")
    if args.write_readme:
        write_readme(results_section(results, command.strip(), started_at))
        print(f"results written to {README}")


if __name__ == "__main__":
    main()
