"""Static URLs carry their file's content hash, so a year of caching never serves a stale file."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from app.assets import IMMUTABLE, AssetVersions

STATIC = Path(__file__).parent.parent / "static"
ASSET_RE = re.compile(r'(?:href|src)="(/static/[^"?]+)\?v=([0-9a-f]+)"')


def short_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_every_static_url_on_a_page_carries_its_files_hash(client):
    html = client.get("/datasets").get_data(as_text=True)
    found = dict(ASSET_RE.findall(html))
    assert set(found) >= {
        "/static/css/app.css",
        "/static/js/app.js",
        "/static/favicon.svg",
        "/static/vendor/htmx-2.0.11.min.js",
    }
    for url, version in found.items():
        assert version == short_sha(STATIC / url.removeprefix("/static/")), url
    assert '/static/css/app.css"' not in html  # no unversioned reference left


def test_a_versioned_url_may_be_cached_for_a_year_and_others_revalidate(client):
    version = short_sha(STATIC / "css" / "app.css")
    current = client.get(f"/static/css/app.css?v={version}")
    assert current.status_code == 200
    assert current.headers["Cache-Control"] == IMMUTABLE
    assert current.get_data() == (STATIC / "css" / "app.css").read_bytes()
    current.close()
    # An old version's URL still gets the file, but only with the usual revalidation.
    stale = client.get("/static/css/app.css?v=000000000000")
    assert stale.status_code == 200 and "immutable" not in stale.headers.get("Cache-Control", "")
    stale.close()
    plain = client.get("/static/css/app.css")
    assert "immutable" not in plain.headers.get("Cache-Control", "")
    plain.close()


def test_a_changed_file_gets_a_new_version_when_watched(tmp_path):
    asset = tmp_path / "site.css"
    asset.write_text("body { color: black }")
    watched = AssetVersions(tmp_path, watch_mtime=True)
    frozen = AssetVersions(tmp_path)
    first = watched.version("site.css")
    assert first == frozen.version("site.css") == short_sha(asset)
    asset.write_text("body { color: navy }")
    os.utime(asset, (1, 1))  # a different mtime, whatever the clock's resolution
    assert watched.version("site.css") == short_sha(asset) != first
    assert frozen.version("site.css") == first  # production hashes each file once per process


def test_no_version_for_missing_files_or_paths_outside_the_folder(tmp_path):
    (tmp_path / "inside.txt").write_text("x")
    (tmp_path.parent / "outside.txt").write_text("secret")
    versions = AssetVersions(tmp_path)
    assert versions.version("missing.css") is None
    assert versions.version("../outside.txt") is None
    assert versions.version("inside.txt") is not None
