from app.config import TestConfig


def test_health_reports_a_reachable_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_unreachable(tmp_path, make_app):
    broken = make_app(TestConfig(f"sqlite:///{tmp_path}/missing-dir/nested/db.sqlite"))
    response = broken.test_client().get("/health")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
