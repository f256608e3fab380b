"""Properties every route shares: headers, no writes on GET."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db

STATIC_ENDPOINTS = {"static"}
PLACEHOLDERS = {"repo_id": "acme/movie-reviews", "combination_id": 1}


def get_urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint not in STATIC_ENDPOINTS:
            values = {arg: PLACEHOLDERS.get(arg, "task") for arg in rule.arguments}
            urls.append(rule.build(values)[1])
    return sorted(urls)


def row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_get_route_sends_security_headers_and_writes_nothing(
    app, client, auth, small_catalog, signed_in
):
    from tests.conftest import create_user

    if signed_in:
        create_user("ann@example.com")
        auth.login("ann@example.com")
    before = row_counts()
    urls = get_urls(app)
    assert "/datasets" in urls and "/account" in urls
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500 or response.status_code == 503, url  # 503: Hub down
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "object-src 'none'" in csp, url
        assert "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp, url
        assert "unsafe" not in csp, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Referrer-Policy"], url
        assert "Strict-Transport-Security" not in response.headers  # only in production
        if signed_in:
            assert response.headers["Cache-Control"] == "private, no-store", url
    assert row_counts() == before
