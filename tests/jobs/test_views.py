"""A job's page: the whole page, the polled fragment, no-JS refresh, 404."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.jobs import service
from app.jobs.engines import run_in_context

POLLING = re.compile(r'hx-trigger="every 2s"')


def page(client, job_id: int, **headers):
    db.session.commit()  # requests share the test's app context: let them see other writes
    return client.get(f"/jobs/{job_id}", headers=headers)


@pytest.fixture
def queued(app, test_kinds):
    return service.enqueue(db.session, "count", {})


@pytest.mark.parametrize(
    ("headers", "template"),
    [
        ({}, "jobs/show.html"),
        ({"HX-Request": "true"}, "jobs/_progress.html"),
        ({"HX-Request": "true", "HX-Boosted": "true"}, "jobs/show.html"),
    ],
)
def test_page_fragment_and_boosted_page(client, queued, rendered_templates, headers, template):
    response = page(client, queued.id, **headers)
    assert response.status_code == 200
    assert rendered_templates[0] == template
    assert "HX-Request" in response.headers["Vary"]


def test_a_queued_job_polls_and_has_a_refresh_link(client, queued):
    html = page(client, queued.id, **{"HX-Request": "true"}).get_data(as_text=True)
    assert len(POLLING.findall(html)) == 1
    assert 'hx-swap="outerHTML"' in html and 'hx-target="closest .job-progress"' in html
    assert f'<a href="/jobs/{queued.id}"' in html and ">Refresh</a>" in html
    assert "Waiting to start." in html


def test_a_running_job_shows_its_progress_and_keeps_polling(app, client, queued):
    service.claim(db.session, queued.id, "w")
    service.report_progress(db.engine, queued.id, 12, 45, "Embedding datasets.")
    html = page(client, queued.id).get_data(as_text=True)
    assert '<progress id="job-' in html and 'max="45" value="12"' in html
    assert "12 of 45" in html and "Embedding datasets." in html
    assert POLLING.search(html)
    assert "<h1>Background job</h1>" in html


def test_a_finished_job_stops_polling(app, client, queued):
    run_in_context(app, queued.id, "w")
    html = page(client, queued.id).get_data(as_text=True)
    assert not POLLING.search(html) and "hx-get" not in html
    assert ">Refresh</a>" in html and "Finished." in html


def test_a_finished_embedding_links_to_the_catalog(app, client, monkeypatch):
    monkeypatch.setitem(service.HANDLERS, "embed", lambda app, job, progress: {})
    job = service.enqueue(db.session, "embed", {})
    run_in_context(app, job.id, "w")
    html = page(client, job.id).get_data(as_text=True)
    assert "<h1>Embedding the catalog</h1>" in html
    assert '<a href="/datasets">Search the catalog</a>' in html


def test_a_failed_job_shows_its_message_not_a_traceback(app, client, test_kinds):
    job = service.enqueue(db.session, "broken", {})
    run_in_context(app, job.id, "w")
    html = page(client, job.id).get_data(as_text=True)
    assert "Failed." in html and "unexpected error (RuntimeError)" in html
    assert "hunter2" not in html and "Traceback" not in html
    assert not POLLING.search(html)


def test_unknown_jobs_are_404(client):
    assert client.get("/jobs/999999").status_code == 404
    for path in ("/jobs/abc", "/jobs/0", "/jobs/-1", "/jobs/99999999999999999999999", "/jobs/١"):
        assert client.get(path).status_code == 404, path


def test_jobs_cannot_be_started_from_the_web(client, queued):
    assert client.post(f"/jobs/{queued.id}").status_code in (400, 405)  # CSRF or no route
    assert client.post("/jobs").status_code in (400, 404, 405)
