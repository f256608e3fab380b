"""Production settings: what refuses to start, and what the responses carry."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from flask_migrate import upgrade

from app.config import UnsafeConfiguration, check_production
from tests.conftest import MIGRATIONS, PASSWORD, Auth

GOOD_KEY = "k" * 48


@pytest.fixture
def production_env(monkeypatch, database_url):
    monkeypatch.setenv("DATASET_EXPLORER_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    # These apps share the test database: no job thread of theirs may take other tests' jobs.
    monkeypatch.setenv("JOBS_AUTOSTART", "0")
    return monkeypatch


@pytest.mark.parametrize("key", [None, "", "short", "changeme"])
def test_production_refuses_to_start_without_a_real_secret_key(production_env, key, make_app):
    if key is None:
        production_env.delenv("SECRET_KEY")
    else:
        production_env.setenv("SECRET_KEY", key)
    with pytest.raises(UnsafeConfiguration, match="SECRET_KEY"):
        make_app()


def test_production_refuses_debug(production_env, make_app):
    production_env.setenv("FLASK_DEBUG", "1")
    with pytest.raises(UnsafeConfiguration, match="DEBUG"):
        make_app()


def test_sqlite_with_several_workers_needs_wal():
    config = {
        "SECRET_KEY": GOOD_KEY,
        "SQLALCHEMY_DATABASE_URI": "sqlite:///x.db",
        "WEB_CONCURRENCY": 3,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
    }
    with pytest.raises(UnsafeConfiguration, match="WAL"):
        check_production(config, lambda: "delete")
    assert check_production(config, lambda: "wal") == []


def test_memory_rate_limits_warn_in_production():
    config = {
        "SECRET_KEY": GOOD_KEY,
        "SQLALCHEMY_DATABASE_URI": "postgresql://x",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    assert any("REDIS_URL" in warning for warning in check_production(config))


@pytest.fixture
def production_app(production_env, app, make_app):
    application = make_app()
    with application.app_context():
        upgrade(directory=str(MIGRATIONS))
    return application


def test_production_cookies_are_secure_and_hsts_is_sent(production_app):
    from app.auth.accounts import register
    from app.extensions import db

    with production_app.app_context():
        register(db.session, "ann@example.com", PASSWORD)
    client = production_app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    response = Auth(client).login("ann@example.com", remember=True)
    assert response.status_code == 303
    cookies = {
        name: morsel
        for header in response.headers.getlist("Set-Cookie")
        for name, morsel in SimpleCookie(header).items()
    }
    for name in ("session", "remember_token"):
        assert cookies[name]["secure"] and cookies[name]["httponly"]
        assert cookies[name]["samesite"] == "Lax"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_production_error_page_shows_no_traceback(production_env, make_app):
    application = make_app()

    @application.get("/explode")
    def explode():
        raise ValueError("internal detail")

    body = application.test_client().get("/explode").get_data(as_text=True)
    assert "Traceback" not in body and "internal detail" not in body


def test_proxy_headers_are_trusted_only_when_configured(production_env, app, make_app):
    production_env.setenv("TRUSTED_PROXIES", "1")
    trusting = make_app()

    @trusting.get("/scheme")
    def scheme():
        from flask import request

        return f"{request.scheme} {request.remote_addr}"

    client = trusting.test_client()
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert client.get("/scheme", headers=headers).get_data(as_text=True) == "https 203.0.113.9"

    production_env.setenv("TRUSTED_PROXIES", "0")
    direct = make_app()
    direct.add_url_rule("/scheme", view_func=scheme)
    assert (
        direct.test_client().get("/scheme", headers=headers).get_data(as_text=True)
        == "http 127.0.0.1"
    )


def test_behind_a_proxy_https_forms_check_the_referer(production_env, app, make_app):
    production_env.setenv("TRUSTED_PROXIES", "1")
    behind_proxy = make_app()
    client = behind_proxy.test_client()
    auth = Auth(client)
    token = auth.csrf_token()
    response = client.post(
        "/auth/login",
        data={"csrf_token": token, "email": "a@b.co", "password": "x"},
        headers={"X-Forwarded-Proto": "https", "Referer": "https://evil.example/"},
    )
    assert response.status_code == 400
