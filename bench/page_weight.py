"""Page weight and accessibility (#9): what the browser fetches for the main pages, and axe-core.

Run from the repository root (about two minutes; see bench/README.md, "Page weight"):

    .venv/bin/python bench/page_weight.py                 # print the table
    .venv/bin/python bench/page_weight.py --write-readme --json bench/results/raw/pw.json

The app runs in this process on a temporary SQLite database with the starter catalog (the 213
datasets `make run` loads) imported and embedded, behind the fake Hub serving the same catalog
(with the real cards from DATASET_EXPLORER_SHARED when it is there), on a local werkzeug server.
A person is signed in, follows three datasets and has a combination of three. Debian's
chromium (Playwright) opens each page in a fresh browser context (empty cache) and waits until
the network is idle (htmx's own follow-up requests included); every request is counted and
every response body weighed.

Compression: werkzeug sends everything uncompressed, so the bodies are gzipped here, the way
deploy/nginx.conf serves them: static CSS, JavaScript and SVG gzipped (nginx's default level 1,
above gzip_min_length 512), HTML not at all (the config keeps gzip off for pages because of
BREACH). A column with every body gzipped shows what compressing pages would save. A repeat
visit costs only the page's own requests: static files carry a content-hash in their URL and
nginx serves them for a year as immutable.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

README = ROOT / "bench" / "README.md"
START = "<!-- page-weight:start -->"
END = "<!-- page-weight:end -->"
STARTER = ROOT / "app" / "catalog" / "data" / "starter_catalog.jsonl"
EMAIL = "weigh@example.org"
PASSWORD = "a long unusual passphrase for weighing 42"
NGINX_GZIP = ("text/css", "application/javascript", "text/javascript", "image/svg+xml")
NGINX_MIN_LENGTH = 512
KINDS = ("document", "fragment", "stylesheet", "script", "image", "other")


def kind_of(request) -> str:
    if request.resource_type == "document":
        return "document"
    if request.resource_type in ("xhr", "fetch"):
        return "fragment"  # htmx's requests after the page loaded
    if request.resource_type in ("stylesheet", "script", "image"):
        return request.resource_type
    return "other"


def gz(body: bytes) -> int:
    return len(gzip.compress(body, compresslevel=1))


def as_nginx_serves(content_type: str, body: bytes) -> int:
    kind = content_type.split(";")[0].strip().lower()
    if kind in NGINX_GZIP and len(body) >= NGINX_MIN_LENGTH:
        return gz(body)
    return len(body)


def prepare(workdir: Path):
    """The app with the starter catalog, its embeddings, a person, follows and a combination;
    and the fake Hub. Returns (app, hub, paths of the pages)."""
    from flask_migrate import upgrade

    from app import create_app
    from app.auth.accounts import register
    from app.catalog.importer import ImportSummary, import_records
    from app.catalog.records import record_from_raw
    from app.combinations import service
    from app.config import TestConfig
    from app.embeddings.model import embedder_for
    from app.embeddings.store import embed_datasets
    from app.extensions import db
    from app.follows.service import set_following
    from app.models import Dataset
    from tests.fakehub import FakeHub

    os.environ.setdefault("DATASET_EXPLORER_INSTANCE", str(workdir / "instance"))
    app = create_app(TestConfig(f"sqlite:///{workdir / 'weight.db'}"))
    app.config["TESTING"] = False
    hub = FakeHub(rate_limit=False)
    shared = Path(os.environ.get("DATASET_EXPLORER_SHARED", ROOT.parent / "shared"))
    cards = shared / "hub" / "catalog" / "cards"
    hub.load_catalog([STARTER], cards if cards.is_dir() else None)
    hub.start()
    app.config.update(HF_ENDPOINT=hub.url, HF_DATASETS_SERVER=hub.url)
    from app.hub.client import HubClient
    from app.hub.service import EXTENSION_KEY, settings_from_config

    app.extensions[EXTENSION_KEY] = HubClient(settings_from_config(app.config))
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        lines = [json.loads(line) for line in STARTER.read_text().splitlines() if line.strip()]
        numbered = [(n, record_from_raw(raw)) for n, raw in enumerate(lines, start=1)]
        import_records(db.session, "starter", numbered, ImportSummary())
        print(f"embedding the {len(numbered)} starter datasets (as `make run` does)...")
        started = time.perf_counter()
        embed_datasets(db.session, embedder_for(app))
        print(f"  {time.perf_counter() - started:.0f} s")
        user = register(db.session, EMAIL, PASSWORD)
        popular = list(
            db.session.scalars(
                db.select(Dataset)
                .where(Dataset.description != "")
                .order_by(Dataset.downloads.desc().nulls_last())
                .limit(6)
            )
        )
        for dataset in popular[:3]:
            set_following(db.session, user.id, dataset.id, True)
        combination = service.create(db.session, user.id, "Weighed")
        for dataset in popular[3:6]:
            service.set_member(db.session, combination, dataset, True)
        db.session.commit()
        pages = {
            "browse": "/datasets",
            "search": "/datasets?q=translation&sort=downloads",
            "dataset": f"/datasets/{popular[0].repo_id}",
            "report": f"/combinations/{combination.id}",
            "feed": "/feed",
        }
        db.session.remove()
    return app, hub, pages


def weigh(browser, base: str, path: str, axe) -> dict:
    """One page in a fresh context: sign in, then load the page with an empty cache."""
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/auth/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    fresh = context.new_page()
    # The sign-in page filled the context's HTTP cache; with routing on, Playwright turns that
    # cache off, so the page below fetches everything as a first visit would.
    fresh.route("**/*", lambda route: route.continue_())
    seen: list = []
    fresh.on("requestfinished", lambda request: seen.append(request))
    fresh.goto(path, wait_until="networkidle")
    fresh.wait_for_timeout(300)  # a last htmx request after load
    by_kind: dict[str, Counter] = {kind: Counter() for kind in KINDS}
    for request in seen:
        response = request.response()
        if response is None:
            continue
        try:
            body = response.body()
        except Exception:  # a redirect or an aborted body
            body = b""
        kind = kind_of(request)
        content_type = response.headers.get("content-type", "")
        by_kind[kind]["requests"] += 1
        by_kind[kind]["raw"] += len(body)
        by_kind[kind]["nginx"] += as_nginx_serves(content_type, body)
        by_kind[kind]["gzip"] += gz(body) if body else 0
    results = axe.run(fresh)
    violations = results.response.get("violations", [])
    context.close()
    return {
        "path": path,
        "kinds": {kind: dict(counter) for kind, counter in by_kind.items() if counter},
        "requests": sum(c["requests"] for c in by_kind.values()),
        "raw": sum(c["raw"] for c in by_kind.values()),
        "nginx": sum(c["nginx"] for c in by_kind.values()),
        "gzip": sum(c["gzip"] for c in by_kind.values()),
        "repeat_visit": sum(by_kind[k]["nginx"] for k in ("document", "fragment")),
        "axe_violations": [
            {"id": v["id"], "impact": v.get("impact"), "nodes": len(v.get("nodes", []))}
            for v in violations
        ],
        "axe_passes": len(results.response.get("passes", [])),
    }


def kb(n: int) -> str:
    return f"{n / 1024:.1f}"


def table(results: dict) -> str:
    lines = [
        "| page | requests | HTML (page + htmx) kB | CSS kB | JS kB | images kB | "
        "total as nginx serves kB | all gzipped kB | uncompressed kB | repeat visit kB | "
        "axe violations |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, result in results.items():
        kinds = result["kinds"]

        def size(*names: str, kinds=kinds) -> int:
            return sum(kinds.get(n, {}).get("nginx", 0) for n in names)

        requests = ", ".join(
            f"{kinds[k]['requests']} {k}" for k in KINDS if kinds.get(k, {}).get("requests")
        )
        axe = len(result["axe_violations"])
        axe_text = "0" if not axe else ", ".join(v["id"] for v in result["axe_violations"])
        lines.append(
            f"| {name} (`{result['path']}`) | {result['requests']} ({requests}) | "
            f"{kb(size('document', 'fragment'))} | {kb(size('stylesheet'))} | "
            f"{kb(size('script'))} | {kb(size('image'))} | **{kb(result['nginx'])}** | "
            f"{kb(result['gzip'])} | {kb(result['raw'])} | {kb(result['repeat_visit'])} | "
            f"{axe_text} |"
        )
    return "\n".join(lines)


def write_readme(section: str) -> None:
    from readme_section import replace_section  # bench/, the script's own folder

    replace_section(README, START, END, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the measurements to this JSON file")
    parser.add_argument("--write-readme", action="store_true", help="update bench/README.md")
    args = parser.parse_args()

    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    started_at = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="dataset-explorer-weight-") as tmp:
        os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
        app, hub, pages = prepare(Path(tmp))
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        results = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
                )
                axe = Axe()
                for name, path in pages.items():
                    results[name] = weigh(browser, base, path, axe)
                    print(
                        f"{name}: {results[name]['requests']} requests, "
                        f"{kb(results[name]['nginx'])} kB as nginx serves them, "
                        f"{len(results[name]['axe_violations'])} axe violations"
                    )
                browser.close()
        finally:
            server.shutdown()
            hub.stop()
    print()
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"date": started_at.isoformat(), "pages": results}, indent=1)
        )
    if args.write_readme:
        write_readme(
            f"{START}\n### Page weight results\n\nMeasured {started_at:%Y-%m-%d %H:%M} UTC with "
            "`.venv/bin/python bench/page_weight.py --write-readme` (kB = 1,024 bytes; cold "
            "cache, signed in).\n\n" + table(results) + f"\n{END}"
        )
        print(f"written to {README}")


if __name__ == "__main__":
    main()
