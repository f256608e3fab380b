"""Search benchmark: time the htmx search fragment on the real catalog and on a 100,000-dataset one.

Run from the repository root (see bench/README.md):

    .venv/bin/python bench/search.py                      # SQLite and PostgreSQL, real and 100,000
    .venv/bin/python bench/search.py --databases sqlite --sizes real --repeat 3
    .venv/bin/python bench/search.py --write-readme       # and rewrite bench/README.md's results

The real catalog (hub/catalog/catalog-0*.jsonl) is read from DATASET_EXPLORER_SHARED, by default
../shared next to the repository; it is never copied into the repository. The larger catalog
replicates the real records under distinct ids (`name-r{n}`) with downloads varied a little, and
everything goes through the real importer, so facets and full-text indexes are built as in
production. Each request goes through app.test_client() with `HX-Request: true`, in-process, and
is timed with time.perf_counter; GET /health, timed the same way in the same rounds, is the
baseline that the ratios divide by, since absolute timings are noisy on a shared machine.
Search keeps counts and pages per catalog version, so each request is timed twice over: as a
first hit (the search cache emptied just before it) and as a repeat hit, reported apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import random
import re
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MIGRATIONS = REPO_ROOT / "migrations"
README = Path(__file__).resolve().parent / "README.md"
CATALOG_FILES = ("catalog-00.jsonl", "catalog-01.jsonl")
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/"
BENCH_DATABASE = "dataset_explorer_bench"
AIM_P95_MS = 25.0
SLOWEST_SHOWN = 5
REPLICA_SEED = 20240316
RESULTS_START = "<!-- bench-results:start -->"
RESULTS_END = "<!-- bench-results:end -->"
FRAGMENT_HEADERS = {"HX-Request": "true"}
TOTAL_RE = re.compile(r"of ([\d,]+) datasets?\s*</h2>|(No datasets found)")


# --------------------------------------------------------------------------------------------
# The fixed workload: 50 requests of GET /datasets. Plain words, prefixes (the last word still
# being typed), quoted phrases and hostile input, combined with facets (one, two of them, or two
# values of one) and with every sort; deep pages and 100 per page; and a few browses without text,
# which is what the landing page and every facet click without a search do.
# --------------------------------------------------------------------------------------------
def _q(
    text: str = "",
    sort: str | None = None,
    page: int | None = None,
    per_page: int | None = None,
    **facets: str | tuple[str, ...],
) -> tuple[tuple[str, str], ...]:
    params: list[tuple[str, str]] = []
    if text:
        params.append(("q", text))
    for facet, values in facets.items():
        for value in (values,) if isinstance(values, str) else values:
            params.append((facet, value))
    if sort:
        params.append(("sort", sort))
    if page:
        params.append(("page", str(page)))
    if per_page:
        params.append(("per_page", str(per_page)))
    return tuple(params)


QUERIES: tuple[tuple[tuple[str, str], ...], ...] = (
    # Plain words.
    _q("question answering", "relevance", task="question-answering"),
    _q("translation", "downloads", language=("fr", "de")),
    _q("sentiment", "likes", task="text-classification", license="mit"),
    _q("medical", "trending", modality="text"),
    _q("speech recognition", "updated", modality="audio"),
    _q("image classification", "created", size="10K<n<100K"),
    _q("wikipedia", "name", language="en"),
    _q("news summarization", "relevance", task="summarization", license="apache-2.0"),
    _q("code", "downloads", per_page=100),
    _q("legal", "relevance", language="en", license="cc-by-4.0"),
    _q("dataset", "relevance", page=50),
    _q("english text", "downloads", task=("text-generation", "text2text-generation")),
    _q("benchmark", "relevance", per_page=100),
    _q("twitter emotion", "likes"),
    _q("squad", "relevance"),
    # Prefixes: the last word is still being typed.
    _q("summ", "relevance"),
    _q("senti", "downloads", language="en"),
    _q("transl", "relevance", task="translation"),
    _q("question ans", "relevance", modality="text"),
    _q("wiki", "updated", size=("100K<n<1M", "1M<n<10M")),
    _q("bio", "created", license="cc-by-4.0"),
    _q("t", "relevance"),
    _q("auto", "relevance", per_page=100),
    _q("image cl", "name", modality="image"),
    _q("multiling", "trending", language=("en", "fr")),
    # Quoted phrases.
    _q('"question answering"', "relevance"),
    _q('"named entity recognition"', "downloads", task="token-classification"),
    _q('"machine translation" french', "relevance"),
    _q('"sentiment analysis"', "likes", license=("mit", "apache-2.0")),
    _q('"text classification" english', "name", language="en"),
    _q('"speech recognition"', "created", modality="audio", size="1K<n<10K"),
    # Hostile input: quotes, *, :, -, FTS and SQL syntax, unknown facet values, overlong text.
    _q('"unbalanced quote', "relevance"),
    _q("*", "relevance"),
    _q(":", "downloads", task="text-classification"),
    _q("-", "name", page=50),
    _q("title:squad", "relevance"),
    _q("-negated -words", "relevance"),
    _q("squad OR glue NOT imdb", "relevance"),
    _q("NEAR(question answer)", "relevance", modality="text"),
    _q("'; DROP TABLE datasets; --", "relevance", license="' OR 1=1 --"),
    _q("a*b* c:d", "trending", language="en"),
    _q('"" "" ***', "updated"),
    _q(" ".join(["data"] * 40), "relevance"),
    _q("text", "updated", page=50, per_page=100),
    # Browsing without text.
    _q("", "downloads"),
    _q("", "downloads", page=50, task="text-classification"),
    _q("", "likes", per_page=100, language="en", license="mit"),
    _q("", "created", modality="image"),
    _q("", "name", page=50, size=("n<1K", "1K<n<10K")),
    _q("", "trending", page=50, per_page=100),
)
assert len(QUERIES) == 50, len(QUERIES)


def query_url(params: Sequence[tuple[str, str]]) -> str:
    return "/datasets?" + urlencode(params) if params else "/datasets"


def query_label(params: Sequence[tuple[str, str]]) -> str:
    """Readable in a Markdown table: `q="t" sort=relevance`."""
    parts = []
    for key, value in params:
        shown = value if len(value) <= 40 else value[:37] + "…"
        parts.append(
            f"{key}={json.dumps(shown, ensure_ascii=False)}" if key == "q" else f"{key}={shown}"
        )
    return " ".join(parts) or "(no parameters)"


# --------------------------------------------------------------------------------------------
# Catalogs.
# --------------------------------------------------------------------------------------------
def shared_catalog_dir() -> Path:
    location = os.environ.get("DATASET_EXPLORER_SHARED")
    base = Path(location) if location else REPO_ROOT.parent / "shared"
    folder = base / "hub" / "catalog"
    missing = [name for name in CATALOG_FILES if not (folder / name).is_file()]
    if missing:
        how = f"DATASET_EXPLORER_SHARED={location}" if location else f"the default {base}"
        sys.exit(
            f"bench/search.py: the real catalog is not available: {how} has no "
            f"{', '.join('hub/catalog/' + name for name in missing)}.\n"
            "Set DATASET_EXPLORER_SHARED to the folder that holds hub/catalog/."
        )
    return folder


def read_real_records(folder: Path) -> list:
    """Every record of the real catalog, parsed by the importer's own reader."""
    from app.catalog.importer import LineProblem, read_records

    records = []
    problems: list[LineProblem] = []
    for name in CATALOG_FILES:
        path = folder / name
        with path.open(encoding="utf-8", errors="replace") as stream:
            records += [record for _, record in read_records(str(path), stream, problems)]
    if problems:
        print(f"  note: {len(problems)} catalog lines are not datasets, e.g. {problems[0]}")
    return records


def replica_id(repo_id: str, round_number: int) -> str:
    """`owner/name` -> `owner/name-r3`, cut so the name part stays a valid Hub name."""
    owner, slash, name = repo_id.rpartition("/")
    suffix = f"-r{round_number}"
    name = name[: 96 - len(suffix)].rstrip("._-") + suffix
    return f"{owner}{slash}{name}"


def replica_records(real: list, count: int, taken: set[str]) -> Iterator[tuple[int, object]]:
    """`count` copies of the real records under new ids, round after round, downloads varied."""
    from app.catalog.records import is_valid_repo_id

    rng = random.Random(REPLICA_SEED)
    made = 0
    round_number = 0
    while made < count:
        round_number += 1
        for record in real:
            if made >= count:
                return
            new_id = replica_id(record.repo_id, round_number)
            if new_id in taken or not is_valid_repo_id(new_id):
                continue
            taken.add(new_id)
            downloads = record.downloads
            if downloads is not None:  # ±10 % and a few more, so sorts are not ties of copies
                downloads = max(0, round(downloads * rng.uniform(0.9, 1.1)) + rng.randrange(10))
            made += 1
            yield made, dataclasses.replace(record, repo_id=new_id, downloads=downloads, aliases=[])


def parse_sizes(raw: str) -> list[str]:
    sizes = []
    for item in raw.split(","):
        item = item.strip().replace("_", "")
        if item != "real" and not item.isdigit():
            raise argparse.ArgumentTypeError(f"size {item!r} is neither 'real' nor a number")
        sizes.append(item)
    return sizes


# --------------------------------------------------------------------------------------------
# Databases.
# --------------------------------------------------------------------------------------------
def postgresql_urls(base_url: str, name: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    from app.config import normalise_database_url

    url = make_url(normalise_database_url(base_url))
    admin = url.set(database=url.database or "postgres")
    bench = url.set(database=name)
    return (
        admin.render_as_string(hide_password=False),
        bench.render_as_string(hide_password=False),
    )


def recreate_postgresql(base_url: str, name: str) -> str:
    import sqlalchemy as sa

    admin_url, bench_url = postgresql_urls(base_url, name)
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        sys.exit(
            f"bench/search.py: PostgreSQL at {base_url} is not reachable ({reason}).\n"
            "Start it, pass --postgresql-url, or run with --databases sqlite."
        )
    finally:
        engine.dispose()
    return bench_url


def drop_postgresql(base_url: str, name: str) -> None:
    import sqlalchemy as sa

    admin_url, _ = postgresql_urls(base_url, name)
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def make_app(url: str):
    from flask_migrate import upgrade

    from app import create_app
    from app.config import TestConfig

    application = create_app(TestConfig(url))
    application.config["TESTING"] = False  # production error handling, not the test one
    with application.app_context():
        upgrade(directory=str(MIGRATIONS))
    return application


def after_import(application, database: str) -> float:
    """What the app's import commands do after a bulk load (catalog.store.refresh_statistics);
    PostgreSQL also gets the VACUUM autovacuum would run, so plans do not change mid-run."""
    from sqlalchemy import text

    from app.catalog.store import refresh_statistics
    from app.extensions import db

    started = time.perf_counter()
    with application.app_context():
        refresh_statistics(db.session)
        if database == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        db.session.remove()
    return time.perf_counter() - started


SORTS = ("downloads", "likes", "trending", "updated", "created", "name")


def time_index_upkeep(application) -> str:
    """What keeping the in-memory index (app.catalog.catalog_index) costs: reading the whole
    catalog (once per process), bringing it up to date after a small write (what every process
    does once after each catalog write), and each sort's order after that write."""
    from sqlalchemy import select

    from app.catalog import catalog_index
    from app.catalog.records import record_from_raw
    from app.catalog.search import clear_search_cache
    from app.catalog.store import catalog_version, upsert_records
    from app.extensions import db
    from app.models import Dataset

    def write_downloads() -> None:
        """A dataset page's refresh: one dataset's download count changes."""
        repo_id, downloads = db.session.execute(
            select(Dataset.repo_id, Dataset.downloads).order_by(Dataset.id).limit(1)
        ).one()
        upsert_records(db.session, [record_from_raw({"id": repo_id, "downloads": downloads + 1})])
        db.session.commit()

    def index_now() -> float:
        began = time.perf_counter()
        url = db.engine.url.render_as_string()
        catalog_index.for_version(db.session, url, catalog_version(db.session))
        return time.perf_counter() - began

    with application.app_context():
        catalog_index.clear()
        full = index_now()
        write_downloads()
        patch = index_now()
        write_downloads()
        db.session.remove()
    clear_search_cache()
    client = application.test_client()
    firsts = []
    for sort in SORTS:
        began = time.perf_counter()
        client.get(f"/datasets?sort={sort}", headers=FRAGMENT_HEADERS).get_data()
        firsts.append(f"{sort} {ms(time.perf_counter() - began)}")
    return (
        f"index read whole in {ms(full)} ms, brought up to date after a one-dataset write in "
        f"{ms(patch)} ms; first request per sort after a write (the first also brings the index "
        f"up to date, each computes its order): {', '.join(firsts)} ms"
    )


def server_version(application) -> str:
    from sqlalchemy import text

    from app.extensions import db

    with application.app_context():
        if db.engine.dialect.name == "postgresql":
            return db.session.scalar(text("SHOW server_version")) or "?"
        return db.session.scalar(text("SELECT sqlite_version()")) or "?"


# --------------------------------------------------------------------------------------------
# Timing.
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class QueryTiming:
    params: tuple[tuple[str, str], ...]
    seconds: list[float] = dataclasses.field(default_factory=list)
    cpu_seconds: list[float] = dataclasses.field(default_factory=list)  # this process only
    status: int = 0
    total: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclasses.dataclass
class RunResult:
    database: str
    size_label: str
    datasets: int
    import_seconds: float  # from an empty database to this size, maintenance included
    import_note: str  # this step: records added, time, rate
    baseline: list[float]
    queries: list[QueryTiming]
    hits: str = "repeat"  # "first": the search cache emptied before each request

    @property
    def samples(self) -> list[float]:
        return [s for q in self.queries for s in q.seconds]

    @property
    def cpu_samples(self) -> list[float]:
        return [s for q in self.queries for s in q.cpu_seconds]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def time_requests(
    application, repeat: int, warmup: int, first_hits: bool
) -> tuple[list[float], list[QueryTiming]]:
    """Warm-up rounds, then `repeat` timed rounds; each search request follows one /health.

    With `first_hits`, the app's search cache is emptied before each search request (untimed),
    as after a catalog write: every request computes its counts and page. Without, the
    warm-up round has filled the cache and the timed rounds repeat requests already made.
    """
    from app.catalog.search import clear_search_cache

    client = application.test_client()
    timings = [QueryTiming(params) for params in QUERIES]
    baseline: list[float] = []

    def get(url: str):
        cpu_started = time.process_time()
        started = time.perf_counter()
        response = client.get(url, headers=FRAGMENT_HEADERS)
        body = response.get_data(as_text=True)  # the whole body is produced inside the timing
        elapsed = time.perf_counter() - started
        cpu.append(time.process_time() - cpu_started)
        return elapsed, response, body

    cpu: list[float] = []

    for round_index in range(warmup + repeat):
        timed = round_index >= warmup
        gc.collect()
        for timing in timings:
            elapsed, response, body = get("/health")
            if response.status_code != 200:
                sys.exit(
                    f"bench/search.py: GET /health answered {response.status_code}: {body[:200]}"
                )
            if timed:
                baseline.append(elapsed)
            url = query_url(timing.params)
            if first_hits:
                clear_search_cache()
            elapsed, response, body = get(url)
            if response.status_code not in (200, 400) or 'id="results-heading"' not in body:
                sys.exit(
                    f"bench/search.py: GET {url} answered {response.status_code} without the "
                    f"results fragment:\n{body[:500]}"
                )
            if "<html" in body.lower():
                sys.exit(f"bench/search.py: GET {url} with HX-Request answered a whole page")
            if timed:
                timing.seconds.append(elapsed)
                timing.cpu_seconds.append(cpu[-1])
            timing.status = response.status_code
            found = TOTAL_RE.search(body)
            timing.total = (found.group(1) or "0") if found else "?"
    return baseline, timings


# --------------------------------------------------------------------------------------------
# Reporting.
# --------------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def summary_table(results: list[RunResult]) -> str:
    lines = [
        "| database | catalog | datasets | hits | /health p50 ms | search p50 ms | p95 ms "
        "| max ms | p50 ÷ /health | p95 ÷ /health | CPU p50 / p95 ms | p95 < 25 ms |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for result in results:
        samples = result.samples
        base = statistics.median(result.baseline)
        p50, p95 = percentile(samples, 0.50), percentile(samples, 0.95)
        cpu = result.cpu_samples
        cpu_text = f"{ms(percentile(cpu, 0.50))} / {ms(percentile(cpu, 0.95))}"
        lines.append(
            f"| {result.database} | {result.size_label} | {result.datasets:,} | {result.hits} "
            f"| {ms(base)} "
            f"| {ms(p50)} | {ms(p95)} | {ms(max(samples))} | {p50 / base:.0f}× | {p95 / base:.0f}× "
            f"| {cpu_text} | {'yes' if p95 * 1000 < AIM_P95_MS else '**no**'} |"
        )
    return "\n".join(lines)


def slowest_tables(results: list[RunResult]) -> str:
    blocks = []
    for result in results:
        base = statistics.median(result.baseline)
        slowest = sorted(result.queries, key=lambda q: q.median, reverse=True)[:SLOWEST_SHOWN]
        rows = [
            f"{SLOWEST_SHOWN} slowest queries, {result.database}, {result.size_label} "
            f"({result.datasets:,} datasets), {result.hits} hits, by median over the rounds:",
            "",
            "| query | median ms | max ms | ÷ /health | CPU median ms | matches | status |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for timing in slowest:
            label = query_label(timing.params).replace("|", "\\|")
            rows.append(
                f"| `{label}` | {ms(timing.median)} | {ms(max(timing.seconds))} "
                f"| {timing.median / base:.0f}× | {ms(statistics.median(timing.cpu_seconds))} "
                f"| {timing.total} | {timing.status} |"
            )
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


def import_lines(results: list[RunResult]) -> str:
    return "\n".join(
        f"- {r.database}, {r.size_label}: {r.import_note}; {r.import_seconds:.1f} s from empty"
        for r in results
        if r.hits == "first"
    )


def machine_description(versions: dict[str, str], load_before: tuple[float, ...]) -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " (" + line.split(":", 1)[1].strip() + ")"
                break
    except OSError:
        pass
    before = " / ".join(f"{value:.1f}" for value in load_before)
    after = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    load = f", load average {before} before the run and {after} after"
    parts = [
        f"nproc {cpus}{model}{load}",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if "postgresql" in versions:
        parts.append(f"PostgreSQL {versions['postgresql']}")
    return "; ".join(parts)


def command_line() -> str:
    def shown(path: str) -> str:
        try:
            return str(Path(path).absolute().relative_to(Path.cwd()))
        except ValueError:
            return path

    prefix = ""
    if os.environ.get("DATASET_EXPLORER_SHARED"):
        prefix = (
            "DATASET_EXPLORER_SHARED=" + shlex.quote(os.environ["DATASET_EXPLORER_SHARED"]) + " "
        )
    return prefix + shlex.join([shown(sys.executable), shown(sys.argv[0]), *sys.argv[1:]])


def results_section(
    results: list[RunResult], args, machine: str, started: datetime, duration: float
) -> str:
    return "\n".join(
        [
            RESULTS_START,
            "## Results",
            "",
            f"Run on {started:%Y-%m-%d %H:%M} UTC, {duration / 60:.1f} minutes in all, "
            f"{args.repeat} timed rounds after {args.warmup} untimed warm-up "
            f"round{'' if args.warmup == 1 else 's'} "
            f"({len(QUERIES)} search requests and as many `/health` requests a round).",
            "",
            f"Machine: {machine}.",
            "",
            "Command:",
            "",
            "```sh",
            command_line(),
            "```",
            "",
            summary_table(results),
            "",
            "Times are wall times per request, in milliseconds. The ratios divide by the median "
            "of `GET /health` measured in the same rounds. CPU is the time this Python process "
            "spent on the request (`time.process_time`): all of the work on SQLite, only the "
            "Python side (SQLAlchemy, Jinja) on PostgreSQL, whose server runs in processes of its "
            "own; unlike wall time it hardly moves with the load of the machine. The aim is a "
            f"search p95 under {AIM_P95_MS:.0f} ms at 100,000 datasets. A status of 400 is a "
            "corrected request (a page past the end, an unknown facet value), answered with a "
            "notice and results.",
            "",
            "Imports (through `import_records`, batches of 500):",
            "",
            import_lines(results),
            "",
            slowest_tables(results),
            RESULTS_END,
        ]
    )


def write_readme(section: str) -> None:
    from readme_section import replace_section  # bench/, the script's own folder

    replace_section(README, RESULTS_START, RESULTS_END, section)


# --------------------------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default: both)",
    )
    parser.add_argument(
        "--sizes",
        default="real,100000",
        type=parse_sizes,
        help="comma-separated catalog sizes: 'real' and/or numbers of datasets "
        "at least the real count (default: real,100000)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed rounds of the 50 queries (default: 5)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default: 1)")
    parser.add_argument(
        "--postgresql-url",
        default=os.environ.get("BENCH_POSTGRESQL_URL", DEFAULT_POSTGRESQL_URL),
        help="server to create the benchmark database on "
        f"(default: {DEFAULT_POSTGRESQL_URL}, or BENCH_POSTGRESQL_URL)",
    )
    parser.add_argument(
        "--postgresql-database",
        default=os.environ.get("BENCH_POSTGRESQL_DATABASE", BENCH_DATABASE),
        help="name of the PostgreSQL database dropped, created and (unless --keep-databases) "
        f"dropped again (default: {BENCH_DATABASE}, or BENCH_POSTGRESQL_DATABASE)",
    )
    parser.add_argument(
        "--keep-databases",
        action="store_true",
        help="leave the SQLite file and the PostgreSQL database for inspection",
    )
    parser.add_argument(
        "--write-readme", action="store_true", help="rewrite the results section of bench/README.md"
    )
    parser.add_argument("--json", type=Path, help="also write every timing to this JSON file")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown or not args.databases:
        parser.error(f"--databases takes sqlite and/or postgresql, not {', '.join(unknown)}")
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")
    return args


def run(args: argparse.Namespace, workdir: Path) -> None:
    from app.catalog.importer import ImportSummary, import_records
    from app.catalog.store import dataset_count
    from app.extensions import db

    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    started = time.perf_counter()
    folder = shared_catalog_dir()
    real = read_real_records(folder)
    print(f"real catalog: {len(real):,} records from {folder}")
    targets = []
    for size in args.sizes:
        if size != "real" and int(size) < len(real):
            sys.exit(f"bench/search.py: size {size} is below the real catalog's {len(real):,}")
        targets.append((size, len(real) if size == "real" else int(size)))
    targets.sort(key=lambda item: item[1])

    results: list[RunResult] = []
    versions: dict[str, str] = {}
    for database in args.databases:
        if database == "sqlite":
            path = workdir / "bench.db"
            url = f"sqlite:///{path}"
        else:
            url = recreate_postgresql(args.postgresql_url, args.postgresql_database)
        print(f"\n== {database}: {url if database == 'sqlite' else args.postgresql_database}")
        application = make_app(url)
        versions[database] = server_version(application)
        loaded = 0
        taken = {record.repo_id for record in real}
        replicas = replica_records(real, 10**9, taken)
        import_total = 0.0
        for label, wanted in targets:
            summary = ImportSummary()
            first = [] if loaded else list(enumerate(real, start=1))
            extra = [next(replicas) for _ in range(wanted - max(loaded, len(real)))]
            began = time.perf_counter()
            with application.app_context():
                if first:
                    import_records(db.session, "real catalog", first, summary)
                if extra:
                    import_records(db.session, "replicas", extra, summary)
                count = dataset_count(db.session)
                db.session.remove()
            imported = time.perf_counter() - began
            maintenance = after_import(application, database)
            import_total += imported + maintenance
            if summary.problems:
                print(f"  {summary.skipped} records refused, e.g. {summary.problems[0]}")
            rate = summary.counts.inserted / imported if imported else 0
            note = f"{summary.counts.inserted:,} added in {imported:.1f} s ({rate:,.0f} records/s)"
            if database == "postgresql":
                note += f", then ANALYZE and VACUUM {maintenance:.1f} s"
            else:
                note += f", then ANALYZE {maintenance:.1f} s"
            print(f"  import to {count:,} datasets: {note}")
            loaded = count
            note += f"; {time_index_upkeep(application)}"
            print(f"  {note}")
            for hits in ("first", "repeat"):
                began = time.perf_counter()
                baseline, timings = time_requests(
                    application, args.repeat, args.warmup, first_hits=hits == "first"
                )
                result = RunResult(
                    database,
                    label if label == "real" else f"{wanted:,}",
                    count,
                    import_total,
                    note,
                    baseline,
                    timings,
                    hits,
                )
                results.append(result)
                samples = result.samples
                p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
                print(
                    f"  {hits} hits: timed {len(samples)} searches + {len(baseline)} /health in "
                    f"{time.perf_counter() - began:.1f} s: search p50 {ms(p50)} ms, "
                    f"p95 {ms(p95)} ms; /health p50 {ms(statistics.median(baseline))} ms"
                )
        with application.app_context():
            db.engine.dispose()
        if database == "postgresql" and not args.keep_databases:
            drop_postgresql(args.postgresql_url, args.postgresql_database)
        elif database == "postgresql":
            print(f"  kept PostgreSQL database {args.postgresql_database}")

    duration = time.perf_counter() - started
    machine = machine_description(versions, load_before)
    print()
    print(summary_table(results))
    print()
    print(slowest_tables(results))
    print()
    print(f"Machine: {machine}. Whole run: {duration:.0f} s.")
    if args.write_readme:
        write_readme(results_section(results, args, machine, started_at, duration))
        print(f"Results written to {README}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "date": started_at.isoformat(),
                    "machine": machine,
                    "command": command_line(),
                    "runs": [
                        {
                            "database": r.database,
                            "catalog": r.size_label,
                            "hits": r.hits,
                            "datasets": r.datasets,
                            "import_seconds": r.import_seconds,
                            "health_seconds": r.baseline,
                            "queries": [
                                {
                                    "url": query_url(q.params),
                                    "seconds": q.seconds,
                                    "cpu_seconds": q.cpu_seconds,
                                    "status": q.status,
                                    "matches": q.total,
                                }
                                for q in r.queries
                            ],
                        }
                        for r in results
                    ],
                },
                indent=1,
            )
        )
        print(f"Timings written to {args.json}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dataset-explorer-bench-") as tmp:
        keep_sqlite = args.keep_databases and "sqlite" in args.databases
        workdir = (
            Path(tempfile.mkdtemp(prefix="dataset-explorer-bench-")) if keep_sqlite else Path(tmp)
        )
        # Keep the app's instance folder (and its generated secret key) out of the repository.
        os.environ.setdefault("DATASET_EXPLORER_INSTANCE", str(Path(tmp) / "instance"))
        os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
        run(args, workdir)
        if keep_sqlite:
            print(f"kept SQLite database {workdir / 'bench.db'}")


if __name__ == "__main__":
    main()
