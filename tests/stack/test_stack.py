"""The production stack, for real, on loopback (issue #8): `make stack-test`.

nginx in front (deploy/nginx.conf), gunicorn with two workers started by deploy/entrypoint.sh
in production mode, an RQ worker (deploy/worker.sh), PostgreSQL and Redis, the fake Hub serving
the starter catalog. Every request below goes through nginx. The tests run in this order and
share the stack: the browser journey, static files, the shared login limit, /ready and
/metrics, then a gunicorn worker killed while a client writes.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, CSP_LISTENER, BrowserErrors
from tests.conftest import CSRF_RE, PASSWORD
from tests.stack import harness
from tests.stack.harness import Stack, say

_numbers = itertools.count(1)


def unique_email(tag: str) -> str:
    return f"stack-{tag}-{uuid.uuid4().hex[:8]}.{next(_numbers)}@example.org"


class LoopbackSession(requests.Session):
    """Sends the app's Secure cookies back to http://127.0.0.1, as Chromium does (loopback is a
    secure context); Python's cookie jar keeps Secure cookies for https only."""

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            if cookie.domain == "127.0.0.1":
                cookie.secure = False
        return response


class SourceAddress(HTTPAdapter):
    """Connect from a given loopback address (the app sees it as the client's address)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(source: str | None = None) -> requests.Session:
    session = LoopbackSession()
    if source:
        session.mount("http://", SourceAddress(source))
    return session


def csrf_token(session: requests.Session, url: str) -> str:
    response = session.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code)
    match = CSRF_RE.search(response.text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def signed_in_client(stack: Stack, tag: str) -> tuple[requests.Session, str, str]:
    """(session, email, csrf token): an account registered and signed in through nginx."""
    session, email = client(), unique_email(tag)
    token = csrf_token(session, stack.url + "/auth/register")
    made = session.post(
        stack.url + "/auth/register",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert made.status_code in (302, 303), made.status_code
    token = csrf_token(session, stack.url + "/auth/login")
    signed = session.post(
        stack.url + "/auth/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert signed.status_code in (302, 303), signed.status_code
    return session, email, csrf_token(session, stack.url + "/datasets")


# --- The browser journey --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, stack: Stack) -> Iterator:
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_LISTENER)
    context.set_default_timeout(15_000)
    errors = BrowserErrors()
    page = errors.watch(context.new_page())
    # The favicon's request is cut short when a navigation follows at once: no broken link.
    page.remove_listener("requestfailed", errors._request_failed)
    page.on(
        "requestfailed",
        lambda request: (
            None
            if request.failure == "net::ERR_ABORTED" and "/static/favicon.svg" in request.url
            else errors._request_failed(request)
        ),
    )
    yield page
    errors.check()
    context.close()


def test_the_main_journey_through_nginx_in_a_real_browser(page, stack: Stack) -> None:
    from playwright.sync_api import expect

    email = unique_email("browser")
    say(f"browser: register {email}")
    page.goto("/auth/register")
    page.fill("#register-form input[name=email]", email)
    page.fill("#register-form input[name=password]", PASSWORD)
    page.click("#register-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Sign in with that email address")

    say("browser: sign in (production mode: Secure cookies over http://127.0.0.1)")
    page.goto("/auth/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header").get_by_role("button", name="Sign out")).to_be_visible()

    say("browser: search for 'squad' and open SQuAD")
    page.goto("/datasets")
    page.fill("#q", "squad")
    page.press("#q", "Enter")
    result = page.locator("#browse-results").get_by_role("link", name="rajpurkar/squad", exact=True)
    expect(result).to_be_visible()
    result.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("rajpurkar/squad")

    say("browser: follow it and add it to a combination")
    page.get_by_role("button", name="Follow rajpurkar/squad").click()
    expect(page.get_by_role("button", name="Unfollow rajpurkar/squad")).to_be_visible()
    page.get_by_role("button", name="Add rajpurkar/squad to the combination").click()
    expect(
        page.get_by_role("button", name="Remove rajpurkar/squad from the combination")
    ).to_be_visible()

    say("browser: search 'sentiment' and add two results from the list")
    page.goto("/datasets?q=sentiment")
    add_buttons = page.locator("#browse-results button.select-button[aria-pressed=false]")
    added = []
    for _ in range(2):
        button = add_buttons.first
        label = button.get_attribute("aria-label") or ""
        button.click()
        repo_id = label.removeprefix("Add ").removesuffix(" to the combination")
        expect(
            page.get_by_role("button", name=f"Remove {repo_id} from the combination")
        ).to_be_visible()
        added.append(repo_id)
    members = ["rajpurkar/squad", *added]
    tray = page.locator("header #selection-tray summary")
    expect(tray).to_contain_text("3 datasets")

    say(f"browser: open the combination's report ({', '.join(members)})")
    tray.click()
    page.get_by_role("link", name="Open the report").click()
    expect(page).to_have_url(re.compile(r"/combinations/\d+$"))
    for repo_id in members:
        expect(
            page.locator("table.members-table").get_by_role("link", name=repo_id, exact=True)
        ).to_be_visible()
    size = page.locator("section[aria-labelledby=size-heading]")
    expect(size.get_by_role("heading", name="Size")).to_be_visible()
    expect(size.locator(".verdict")).to_contain_text("rows")
    semantic = page.locator("section.semantic")
    expect(semantic.get_by_role("heading", name="What the combination covers")).to_be_visible()
    expect(semantic.get_by_role("heading", name="Groups")).to_be_visible()
    expect(semantic.get_by_role("heading", name="Topics reached")).to_be_visible()
    expect(semantic.locator("#topics-caption")).to_be_visible()
    page.screenshot(path=str(stack.run_dir / "combination-report.png"), full_page=True)

    engine = stack.engine()
    try:
        with engine.connect() as connection:
            followed = (
                connection.execute(
                    sa.text(
                        "SELECT d.repo_id FROM follows f JOIN users u ON u.id = f.user_id "
                        "JOIN datasets d ON d.id = f.dataset_id WHERE u.email = :email"
                    ),
                    {"email": email},
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert followed == ["rajpurkar/squad"]


# --- Static files ---------------------------------------------------------------------------------


def test_static_files_come_from_nginx_with_a_year_of_caching(stack: Stack) -> None:
    html = requests.get(stack.url + "/datasets", timeout=10)
    assert html.status_code == 200
    # Pages carry a CSRF token next to what a visitor typed: never compressed (BREACH).
    assert "gzip" not in html.headers.get("Content-Encoding", "")
    urls = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', html.text))
    assert {u.split("?")[0] for u in urls} >= {"/static/css/app.css", "/static/js/app.js"}
    before = sum(1 for r in stack.access_records() if (r.get("path") or "").startswith("/static/"))
    for url in sorted(urls):
        assert re.search(r"\?v=[0-9a-f]{12}$", url), f"{url} carries no content version"
        response = requests.get(stack.url + url, headers={"Accept-Encoding": "gzip"}, timeout=10)
        say(
            f"static: {url} -> {response.status_code}, {response.headers.get('Cache-Control')}, "
            f"{response.headers.get('Content-Encoding', 'identity')}"
        )
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers.get("Server", "").startswith("nginx")
        assert "ETag" in response.headers and "Last-Modified" in response.headers
        if url.startswith(("/static/css/", "/static/js/")):
            assert response.headers.get("Content-Encoding") == "gzip", url
            assert "Accept-Encoding" in response.headers.get("Vary", "")
        on_disk = (harness.ROOT / url.split("?")[0].lstrip("/")).read_bytes()
        assert response.content == on_disk  # requests has undone the gzip
    unversioned = requests.get(stack.url + "/static/css/app.css", timeout=10)
    assert unversioned.headers["Cache-Control"] == "public, max-age=3600"
    missing = requests.get(stack.url + "/static/css/nothing.css", timeout=10)
    assert missing.status_code == 404
    after = sum(1 for r in stack.access_records() if (r.get("path") or "").startswith("/static/"))
    assert after == before, "static files reached gunicorn: nginx should serve them"


# --- The short public cache -----------------------------------------------------------------------


def test_nginx_caches_only_what_the_app_marks_public(stack: Stack) -> None:
    """A public fragment (a dataset's commit history, which holds no form) is stored and served
    by nginx; with a session cookie it is not; a page holding a CSRF token never is."""
    fragment = stack.url + "/datasets/rajpurkar/squad/commits"
    hx = {"HX-Request": "true"}
    statuses = []
    for _ in range(2):
        response = requests.get(fragment, headers=hx, timeout=20)
        assert response.status_code == 200, response.text[:300]
        assert response.headers["Cache-Control"] == "public, max-age=60"
        statuses.append(response.headers.get("X-Cache-Status"))
    assert statuses[-1] == "HIT", statuses
    signed = requests.get(fragment, headers={**hx, "Cookie": "session=abc"}, timeout=20)
    assert signed.headers.get("X-Cache-Status") == "BYPASS"
    for _ in range(2):
        page = requests.get(stack.url + "/datasets", timeout=20)
        assert "public" not in page.headers["Cache-Control"]
        assert page.headers.get("X-Cache-Status") != "HIT"
    say(f"nginx cache: history fragment {statuses}, with a cookie BYPASS, /datasets never HIT")


# --- Rate limits shared by the workers ------------------------------------------------------------


def test_the_login_limit_holds_across_both_workers(stack: Stack) -> None:
    """10 failed sign-ins per account per 15 minutes, counted in Redis: the 11th is refused
    whichever worker answers, and the first ten were answered by both workers.

    Each round comes from its own loopback address (127.0.0.11, .12, ...), so the per-address
    limit (30 sign-ins a minute) of earlier rounds and tests does not interfere; the ten are
    sent five at a time, so both workers are busy and both answer some."""
    for attempt in range(1, 6):
        session = client(source=f"127.0.0.{10 + attempt}")
        email = unique_email("limit")
        token = csrf_token(session, stack.url + "/auth/login")

        def sign_in(request_id: str, session=session, token=token, email=email) -> int:
            return session.post(
                stack.url + "/auth/login",
                data={"csrf_token": token, "email": email, "password": "not the password 123"},
                headers={"X-Request-ID": request_id},
                allow_redirects=False,
                timeout=10,
            ).status_code

        ids = [f"stack-limit-{uuid.uuid4().hex}" for _ in range(11)]
        with ThreadPoolExecutor(max_workers=5) as pool:
            statuses = list(pool.map(sign_in, ids[:10]))
        statuses.append(sign_in(ids[10]))
        assert statuses[:10] == [422] * 10, statuses
        assert statuses[10] == 429, statuses
        time.sleep(0.5)  # the access log line is written after the response
        pids = {
            r["request_id"]: r["pid"] for r in stack.access_records() if r.get("request_id") in ids
        }
        assert set(pids) == set(ids), "every request id nginx passed on is in gunicorn's access log"
        workers = {pids[i] for i in ids[:10]}
        say(
            f"login limit: 10 x 422 then 429 (round {attempt}); the ten were answered by "
            f"workers {sorted(workers)}, the refusal by {pids[ids[10]]}"
        )
        if len(workers) == 2:
            return
    pytest.fail("five rounds of ten sign-ins never reached both workers: cannot show sharing")


# --- Readiness and metrics ------------------------------------------------------------------------


def test_ready_and_metrics_answer_through_nginx(stack: Stack) -> None:
    health = requests.get(stack.url + "/health", timeout=10)
    assert health.status_code == 200
    ready = requests.get(stack.url + "/ready", timeout=10)
    say(f"/ready -> {ready.status_code} {ready.text[:200]}")
    assert ready.status_code == 200, ready.text
    metrics = requests.get(stack.url + "/metrics", timeout=10)
    say(f"/metrics -> {metrics.status_code}, {len(metrics.text)} bytes")
    assert metrics.status_code == 200, metrics.text[:500]
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE" in metrics.text and "dataset_explorer_" in metrics.text


def test_request_ids_reach_gunicorns_access_log(stack: Stack) -> None:
    mine = f"stack-{uuid.uuid4().hex}"
    assert requests.get(stack.url + "/health", headers={"X-Request-ID": mine}, timeout=10).ok
    unsafe = requests.get(stack.url + "/health", headers={"X-Request-ID": 'a b"c'}, timeout=10)
    assert unsafe.ok
    time.sleep(0.5)
    health = [r for r in stack.access_records() if r.get("path") == "/health"]
    assert any(r["request_id"] == mine for r in health)
    # A header that is no sane id is replaced by nginx's own 32-hex $request_id.
    assert re.fullmatch(r"[0-9a-f]{32}", health[-1]["request_id"]), health[-1]


# --- A worker killed mid-run ----------------------------------------------------------------------


def test_killing_a_worker_loses_no_answered_write(stack: Stack) -> None:
    """Two clients follow datasets one by one while one gunicorn worker is SIGKILLed: every
    follow answered 2xx/3xx is in the database; only requests in flight on the dead worker may
    fail (nginx answers 502 and does not replay a POST); the master starts a new worker."""
    session, email, token = signed_in_client(stack, "writes")
    engine = stack.engine()
    try:
        with engine.connect() as connection:
            repo_ids = (
                connection.execute(sa.text("SELECT repo_id FROM datasets ORDER BY id"))
                .scalars()
                .all()
            )
        workers = stack.gunicorn_workers()
        assert len(workers) == 2, workers
        victim = workers[0]
        results: list[tuple[str, int | str]] = []
        lock = threading.Lock()
        kill_after = len(repo_ids) // 4
        killed = threading.Event()

        def write(batch: list[str]) -> None:
            own = client()
            own.cookies.update(session.cookies)
            for repo_id in batch:
                try:
                    response = own.post(
                        f"{stack.url}/follows/{repo_id}",
                        data={"csrf_token": token, "action": "follow", "next": "/following"},
                        allow_redirects=False,
                        timeout=30,
                    )
                    outcome: int | str = response.status_code
                except requests.RequestException as error:
                    outcome = type(error).__name__
                with lock:
                    results.append((repo_id, outcome))
                    if len(results) == kill_after and not killed.is_set():
                        say(f"SIGKILL gunicorn worker {victim} after {kill_after} writes")
                        os.kill(victim, signal.SIGKILL)
                        killed.set()

        threads = [
            threading.Thread(target=write, args=(repo_ids[start::2],), name=f"writer-{start}")
            for start in range(2)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "the writers did not finish"
        assert killed.is_set()
        answered = [repo for repo, outcome in results if isinstance(outcome, int) and outcome < 400]
        failed = [
            (repo, outcome)
            for repo, outcome in results
            if not (isinstance(outcome, int) and outcome < 400)
        ]
        say(
            f"writes: {len(results)} in {time.monotonic() - started:.1f} s, "
            f"{len(answered)} answered "
            f"2xx/3xx, failed: {failed}"
        )

        with engine.connect() as connection:
            stored = set(
                connection.execute(
                    sa.text(
                        "SELECT d.repo_id FROM follows f JOIN users u ON u.id = f.user_id "
                        "JOIN datasets d ON d.id = f.dataset_id WHERE u.email = :email"
                    ),
                    {"email": email},
                ).scalars()
            )
    finally:
        engine.dispose()
    assert len(results) == len(repo_ids)
    served_by_victim = [
        r
        for r in stack.access_records()
        if r.get("pid") == victim and (r.get("path") or "").startswith("/follows/")
    ]
    say(f"the killed worker had answered {len(served_by_victim)} of the writes")
    assert served_by_victim, "the killed worker took no part in the run: kill earlier"
    lost = sorted(set(answered) - stored)
    assert not lost, f"answered but not committed: {lost}"
    # Only what was in flight on the killed worker may fail: at most one request per client.
    assert len(failed) <= 2, failed
    assert all(outcome == 502 for _, outcome in failed), failed

    def replaced() -> list[int]:
        now = stack.gunicorn_workers()
        return now if len(now) == 2 and victim not in now else []

    now = harness.wait_for("gunicorn replacing the killed worker", replaced, 30)
    say(f"gunicorn workers now {now} (was {workers})")
    assert requests.get(stack.url + "/ready", timeout=10).status_code == 200


def test_a_graceful_reload_replaces_the_workers_without_a_failed_request(stack: Stack) -> None:
    """`kill -HUP <master>`: new workers start, the old ones finish what they hold; a client
    reading pages all the while sees only 200s."""
    before = stack.gunicorn_workers()
    stop = threading.Event()
    outcomes: list[int | str] = []

    def read() -> None:
        with client() as session:
            while not stop.is_set() and len(outcomes) < 2000:
                try:
                    outcomes.append(session.get(stack.url + "/datasets", timeout=30).status_code)
                except requests.RequestException as error:
                    outcomes.append(type(error).__name__)

    reader = threading.Thread(target=read, name="reader")
    reader.start()
    try:
        time.sleep(0.5)
        say(f"SIGHUP to the gunicorn master {stack.gunicorn_master()} (workers {before})")
        os.kill(stack.gunicorn_master(), signal.SIGHUP)

        def reloaded() -> list[int]:
            now = stack.gunicorn_workers()
            return now if len(now) == 2 and not set(now) & set(before) else []

        after = harness.wait_for("two new workers after HUP", reloaded, 60)
        time.sleep(1)  # some requests on the new workers too
    finally:
        stop.set()
        reader.join(timeout=40)
    say(f"reload: workers {before} -> {after}; {len(outcomes)} pages read meanwhile")
    assert outcomes and all(outcome == 200 for outcome in outcomes), outcomes
    stack.alive("web")


def test_a_pg_dump_restores_into_a_database_the_app_accepts(stack: Stack) -> None:
    """The README's backup and restore drill, on the data this run made."""
    dump = stack.run_dir / "dataset_explorer.dump"
    stack.run(
        "backup: pg_dump --format=custom",
        ["pg_dump", "--format=custom", f"--file={dump}", stack.database_url],
    )
    name = harness.DATABASE_NAME + "_restore"
    restored = harness.reset_database(name)
    try:
        stack.run(
            f"restore drill: pg_restore into {name}",
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restored}", str(dump)],
        )
        current = stack.run(
            "restore drill: flask db current on the copy",
            ["flask", "db", "current"],
            DATABASE_URL=restored,
        )
        assert "(head)" in current, current
        counts = {}
        for url in (stack.database_url, restored):
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
            try:
                with engine.connect() as connection:
                    counts[url] = connection.execute(
                        sa.text(
                            "SELECT (SELECT count(*) FROM datasets), (SELECT count(*) FROM users),"
                            " (SELECT count(*) FROM follows),"
                            " (SELECT count(*) FROM dataset_embeddings)"
                        )
                    ).one()
            finally:
                engine.dispose()
        say(f"restore drill: datasets, users, follows, vectors = {counts[restored]}")
        assert counts[restored] == counts[stack.database_url]
    finally:
        harness.drop_database(name)
