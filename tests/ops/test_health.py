"""/health (liveness) and /ready (readiness), on SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app.config import TestConfig
from app.embeddings import model as embedding_model
from app.extensions import db
from app.ops.readiness import bundled_model_problem

REDIS_URL = "redis://127.0.0.1:6379/4"  # this area's Redis database


@contextmanager
def counting_statements():
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def test_health_answers_without_asking_the_database(client):
    with counting_statements() as statements:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert statements == []


def test_health_stays_200_when_the_database_is_unreachable(tmp_path, make_app):
    broken = make_app(TestConfig(f"sqlite:///{tmp_path}/missing-dir/nested/db.sqlite"))
    assert broken.test_client().get("/health").status_code == 200


def test_ready_when_everything_is_in_place(client):
    response = client.get("/ready")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ok"
    assert "reasons" not in body
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    migrations = body["checks"]["migrations"]
    assert migrations["ok"] and "at head" in migrations["detail"]
    assert body["checks"]["redis"] == {"ok": True, "detail": "not configured"}
    assert body["checks"]["model"] == {"ok": True, "detail": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}/missing-dir/nested/db.sqlite",
        "postgresql://postgres@127.0.0.1:1/nothing_listens_here",
    ],
    ids=["sqlite", "postgresql"],
)
def test_ready_is_503_with_the_reason_when_the_database_is_unreachable(tmp_path, make_app, url):
    broken = make_app(TestConfig(url.format(tmp=tmp_path)))
    response = broken.test_client().get("/ready")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["detail"].startswith("unreachable")
    assert any(reason.startswith("database: unreachable") for reason in body["reasons"])
    assert "postgres@" not in response.get_data(as_text=True)  # no connection details


def test_ready_is_503_when_the_schema_is_behind_the_code(client):
    current = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0008'"))
    db.session.commit()
    try:
        response = client.get("/ready")
    finally:
        db.session.execute(
            sa.text("UPDATE alembic_version SET version_num = :head"), {"head": current}
        )
        db.session.commit()
    assert response.status_code == 503
    migrations = response.json["checks"]["migrations"]
    assert migrations["ok"] is False
    assert "at 0008" in migrations["detail"] and current in migrations["detail"]
    assert "flask db upgrade" in migrations["detail"]
    assert response.json["checks"]["database"]["ok"] is True
    assert client.get("/ready").status_code == 200  # and ready again once at head


def test_ready_is_503_on_an_empty_database(tmp_path, make_app):
    empty = make_app(TestConfig(f"sqlite:///{tmp_path}/empty.db"))
    response = empty.test_client().get("/ready")
    assert response.status_code == 503
    assert "flask db upgrade" in response.json["checks"]["migrations"]["detail"]


def with_redis(app, url: str):
    """The app asking `url` for its readiness (the check builds its client from REDIS_URL)."""
    app.config["REDIS_URL"] = url
    app.extensions.pop("ops_redis", None)


def test_ready_checks_redis_when_it_is_configured(app, client):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    try:
        with_redis(app, REDIS_URL)
        response = client.get("/ready")
        assert response.status_code == 200, response.json
        assert response.json["checks"]["redis"] == {"ok": True, "detail": "ok"}

        with_redis(app, "redis://127.0.0.1:1/0")  # nothing listens there
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.json["checks"]["redis"]["ok"] is False
        assert response.json["reasons"] == [response.json["reasons"][0]]
        assert response.json["reasons"][0].startswith("redis: unreachable")
    finally:
        with_redis(app, None)


def test_the_model_check_names_missing_and_altered_files(tmp_path):
    data_dir = embedding_model.package_data_dir()
    onnx = embedding_model.installed_onnx_path()
    assert bundled_model_problem(onnx, data_dir) is None

    problem = bundled_model_problem(tmp_path / "model.onnx", data_dir)
    assert problem is not None and "missing" in problem and "model.onnx" in problem

    altered = tmp_path / "altered.onnx"
    altered.write_bytes(b"not the model")
    problem = bundled_model_problem(altered, data_dir)
    assert problem is not None and "sha256" in problem

    problem = bundled_model_problem(onnx, tmp_path)  # no tokenizer files there
    assert problem is not None and "tokenizer.json" in problem
