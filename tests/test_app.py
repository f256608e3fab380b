"""The application shell: configuration, database settings, errors, schema and static assets."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from app.catalog.fulltext_ddl import include_object
from app.config import TestConfig, local_secret_key, normalise_database_url
from app.extensions import db

ROOT = Path(__file__).parent.parent
TEMPLATES = ROOT / "templates"


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_local_secret_key_is_generated_once_and_kept(tmp_path):
    first = local_secret_key(tmp_path)
    assert len(first) == 64 and local_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_postgresql_pool_pings_before_use(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL pool")
    assert db.engine.pool._pre_ping


def test_migrations_match_the_models(app):
    """What `flask db check` checks: no model change lacks its migration."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": include_object},
        )
        assert compare_metadata(context, db.metadata) == []


def test_an_unexpected_error_shows_a_page_without_a_traceback(database_url, make_app):
    application = make_app(TestConfig(database_url))

    @application.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = application.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong on our side" in body
    assert "Traceback" not in body and "secret internals" not in body


def test_post_without_csrf_token_is_refused(database_url, make_app):
    application = make_app(TestConfig(database_url))

    @application.post("/change")
    def change():
        return "changed"

    response = application.test_client().post("/change")
    assert response.status_code == 400
    assert "Your form expired" in response.get_data(as_text=True)


def test_htmx_is_vendored_pinned_and_unaltered():
    vendored = ROOT / "static" / "vendor" / "htmx-2.0.11.min.js"
    digest = hashlib.sha256(vendored.read_bytes()).hexdigest()
    assert digest == "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
    assert "htmx-2.0.11.min.js" in (TEMPLATES / "base.html").read_text()


def all_templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*"))


def test_templates_are_html_or_xml_so_they_autoescape():
    assert all(p.suffix in (".html", ".xml") for p in all_templates() if p.is_file())


def test_no_inline_script_style_or_event_handler_the_csp_would_block():
    for path in all_templates():
        if not path.is_file():
            continue
        source = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), path
        assert "<style" not in source and " style=" not in source, path
        assert not re.search(r"\son[a-z]+=", source), path
        assert "hx-on" not in source, path
        assert "|safe" not in source, path


def test_hx_requests_use_url_for_not_hard_coded_paths():
    for path in all_templates():
        if path.is_file():
            for value in re.findall(r'hx-(?:get|post)="([^"]*)"', path.read_text()):
                assert value.startswith("{{"), (path, value)
