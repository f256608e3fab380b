"""Static files carry a content version in their URL, so they can be cached for a year.

`url_for('static', filename='css/app.css')` becomes `/static/css/app.css?v=<12 hex of sha256>`.
A changed file gets a new URL, so browsers and nginx may keep each URL forever
(deploy/nginx.conf answers versioned URLs with `Cache-Control: max-age=31536000, immutable`);
when the app serves static files itself (no nginx in front), it sends the same header for a URL
whose version matches the file, and the usual revalidation otherwise.

Each file is hashed once per process (in debug mode again whenever its mtime changes, so an
edited stylesheet shows at once). The version is a query parameter: the file keeps its name on
disk and the Content-Security-Policy (`'self'`) is unaffected.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from flask import Flask, Response, request

VERSION_PARAM = "v"
VERSION_LENGTH = 12
IMMUTABLE = "public, max-age=31536000, immutable"

_lock = threading.Lock()


class AssetVersions:
    """sha256-based versions of the files under one static folder, computed on first use."""

    def __init__(self, folder: str | os.PathLike, watch_mtime: bool = False) -> None:
        self.folder = Path(folder).resolve()
        self.watch_mtime = watch_mtime
        self._versions: dict[str, tuple[float, str | None]] = {}

    def _path(self, filename: str) -> Path | None:
        path = (self.folder / filename).resolve()
        if self.folder not in path.parents or not path.is_file():
            return None  # outside the folder or missing: no version (Flask answers 404)
        return path

    def version(self, filename: str) -> str | None:
        cached = self._versions.get(filename)
        if cached is not None and not self.watch_mtime:
            return cached[1]
        path = self._path(filename)
        if path is None:
            return None
        mtime = path.stat().st_mtime
        if cached is not None and cached[0] == mtime:
            return cached[1]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:VERSION_LENGTH]
        with _lock:
            self._versions[filename] = (mtime, digest)
        return digest


def init_app(app: Flask) -> None:
    if not app.static_folder:
        return
    versions = AssetVersions(app.static_folder, watch_mtime=app.debug)
    app.extensions["asset_versions"] = versions

    @app.url_defaults
    def add_static_version(endpoint: str, values: dict) -> None:
        if endpoint != "static" or VERSION_PARAM in values or "filename" not in values:
            return
        version = versions.version(values["filename"])
        if version:
            values[VERSION_PARAM] = version

    @app.after_request
    def cache_versioned_static(response: Response) -> Response:
        if request.endpoint != "static" or response.status_code not in (200, 304):
            return response
        asked = request.args.get(VERSION_PARAM)
        filename = (request.view_args or {}).get("filename")
        if asked and filename and asked == versions.version(filename):
            response.headers["Cache-Control"] = IMMUTABLE
        return response
