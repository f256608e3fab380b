"""Shared fixtures: one migrated database per run (SQLite, or PostgreSQL via TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, g, template_rendered
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2 import StrictUndefined

from app import create_app
from app.catalog.importer import ImportSummary, import_records
from app.catalog.records import record_from_raw
from app.config import TestConfig, normalise_database_url
from app.extensions import db, limiter

FIXTURES = Path(__file__).parent / "fixtures"
MIGRATIONS = Path(__file__).parent.parent / "migrations"


def shared_dir() -> Path:
    """../shared, named by DATASET_EXPLORER_SHARED; tests that need it skip when it is unset."""
    location = os.environ.get("DATASET_EXPLORER_SHARED")
    if not location:
        pytest.skip("DATASET_EXPLORER_SHARED is not set: the real Hub catalog is not available")
    path = Path(location)
    if not (path / "hub" / "catalog").is_dir():
        pytest.fail(f"DATASET_EXPLORER_SHARED={location} has no hub/catalog folder")
    return path


def reset_postgresql(url: str) -> None:
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        reset_postgresql(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


class RequestIsolatingClient(FlaskClient):
    """Each request gets a clean `g`, as in production.

    Tests keep an app context pushed to use the database directly, and Flask reuses a pushed
    app context for requests: without this, `g` (the signed-in user, the CSRF token) would leak
    from one request into the next.
    """

    def open(self, *args, **kwargs):
        g.__dict__.clear()
        try:
            return super().open(*args, **kwargs)
        finally:
            g.__dict__.clear()


@pytest.fixture(scope="session")
def migrated_app(database_url: str) -> Iterator[Flask]:
    application = create_app(TestConfig(database_url))
    application.test_client_class = RequestIsolatingClient
    application.jinja_env.undefined = StrictUndefined
    with application.app_context():
        upgrade(directory=str(MIGRATIONS))
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def make_app():
    """Build extra apps in a test; their connection pools are closed afterwards."""
    created: list[Flask] = []

    def factory(config=None) -> Flask:
        application = create_app(config)
        created.append(application)
        return application

    yield factory
    for application in created:
        # A job thread first: disposing the engine under a connection it has checked out
        # would orphan that connection (closed only by the garbage collector, with a warning).
        jobs_engine = application.extensions.get("jobs_engine")
        if hasattr(jobs_engine, "stop"):
            jobs_engine.stop()
        with application.app_context():
            for engine in db.engines.values():
                engine.dispose()


def empty_tables() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app(migrated_app: Flask) -> Iterator[Flask]:
    """The app with an empty catalog and an app context pushed."""
    with migrated_app.app_context():
        empty_tables()
        limiter.reset()
        migrated_app.extensions["hub_client"].reset()
        yield migrated_app
        db.session.remove()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def load_jsonl(path: Path) -> ImportSummary:
    """Import a JSON Lines fixture through the real importer."""
    import json

    summary = ImportSummary()
    with path.open(encoding="utf-8") as stream:
        numbered = [
            (number, record_from_raw(json.loads(line)))
            for number, line in enumerate(stream, start=1)
            if line.strip()
        ]
    return import_records(db.session, str(path), numbered, summary)


@pytest.fixture
def small_catalog(app: Flask) -> ImportSummary:
    """A hand-made 45-dataset catalog whose search results the tests know."""
    return load_jsonl(FIXTURES / "catalog_small.jsonl")


@pytest.fixture
def rendered_templates(app: Flask) -> Iterator[list[str]]:
    """Names of the templates rendered during the test, outermost first."""
    names: list[str] = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    template_rendered.connect(record, app)
    yield names
    template_rendered.disconnect(record, app)


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')  # in <body hx-headers> on every page
PASSWORD = "a long unusual passphrase 42"


class Auth:
    """Act as a person in the browser would: fetch the form, post it with its CSRF token."""

    def __init__(self, client) -> None:
        self.client = client

    def csrf_token(self, page: str = "/datasets") -> str:
        match = CSRF_RE.search(self.client.get(page).get_data(as_text=True))
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def post(self, url: str, data: dict, **kwargs):
        token = self.csrf_token()
        return self.client.post(url, data={"csrf_token": token, **data}, **kwargs)

    def register(self, email: str, password: str = PASSWORD):
        return self.post("/auth/register", {"email": email, "password": password})

    def login(self, email: str, password: str = PASSWORD, remember: bool = False, next: str = ""):
        url = "/auth/login" + (f"?next={next}" if next else "")
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "y"
        return self.post(url, data)

    def logout(self):
        return self.post("/auth/logout", {})


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


def create_user(email: str, password: str = PASSWORD):
    """A user straight through the service layer (faster than the form)."""
    from app.auth.accounts import register

    user = register(db.session, email, password)
    assert user is not None
    return user


@pytest.fixture
def two_users(app):
    """Two accounts, each with its own signed-in client: B must never reach A's things.

    Features with per-user resources reuse this: create them as A, then ask as B and expect 404.
    """
    clients = {}
    for name, email in (("a", "ann@example.com"), ("b", "bob@example.com")):
        create_user(email)
        client = app.test_client()
        response = Auth(client).login(email)
        assert response.status_code == 303, response.get_data(as_text=True)
        clients[name] = client
    return clients
