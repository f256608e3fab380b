"""`flask jobs ...`, and the catalog commands queueing embedding of what they changed."""

from __future__ import annotations

import json

import sqlalchemy as sa

from app.extensions import db
from app.jobs import service
from app.models import Job
from tests.jobs.conftest import read_job


def jobs(kind: str | None = None) -> list[Job]:
    query = sa.select(Job).order_by(Job.id)
    if kind:
        query = query.where(Job.kind == kind)
    found = list(db.session.scalars(query))
    db.session.commit()
    return found


def write_records(path, repo_ids, description="A dataset."):
    path.write_text(
        "".join(
            json.dumps({"id": repo_id, "description": description}) + "\n" for repo_id in repo_ids
        )
    )
    return path


def test_run_queued_runs_every_waiting_job_and_reports(app, runner, test_kinds):
    ok = service.enqueue(db.session, "count", {})
    bad = service.enqueue(db.session, "refused", {})
    result = runner.invoke(args=["jobs", "run-queued"])
    assert result.exit_code == 1  # one failed
    assert f"job {ok.id} (count): done. Done." in result.output
    assert f"job {bad.id} (refused): failed. There is nothing to embed yet." in result.output
    assert "2 jobs run, 1 failed." in result.output
    assert read_job(db.session, ok.id).status == "done"


def test_run_queued_can_keep_to_one_kind(app, runner, test_kinds):
    ok = service.enqueue(db.session, "count", {})
    other = service.enqueue(db.session, "refused", {})
    result = runner.invoke(args=["jobs", "run-queued", "--kind", "count"])
    assert result.exit_code == 0, result.output
    assert "1 job run, 0 failed." in result.output
    assert read_job(db.session, ok.id).status == "done"
    assert read_job(db.session, other.id).status == "queued"


def test_list_shows_the_newest_first(app, runner, test_kinds):
    assert "No jobs yet." in runner.invoke(args=["jobs", "list"]).output
    first = service.enqueue(db.session, "count", {})
    second = service.enqueue(db.session, "refused", {})
    lines = runner.invoke(args=["jobs", "list"]).output.splitlines()
    assert lines[0].split()[:3] == [str(second.id), "refused", "queued"]
    assert lines[1].split()[:3] == [str(first.id), "count", "queued"]


def test_catalog_import_queues_embedding_only_when_something_changed(app, runner, tmp_path):
    source = write_records(tmp_path / "a.jsonl", ["org/a", "org/b"])
    result = runner.invoke(args=["catalog", "import", str(source)])
    assert result.exit_code == 0, result.output
    [job] = jobs("embed")
    assert (job.status, job.params) == ("queued", {})
    assert f"embedding queued as job {job.id}" in result.output

    result = runner.invoke(args=["catalog", "import", str(source)])  # nothing changed
    assert "embedding queued" not in result.output
    changed = write_records(tmp_path / "b.jsonl", ["org/a"], description="Now different.")
    result = runner.invoke(args=["catalog", "import", str(changed)])
    assert f"embedding queued as job {job.id}" in result.output  # the waiting one, reused
    assert len(jobs("embed")) == 1


def test_load_starter_queues_embedding(app, runner):
    result = runner.invoke(args=["catalog", "load-starter"])
    assert result.exit_code == 0, result.output
    assert [job.kind for job in jobs()] == ["embed"]
    assert "embedding queued as job" in result.output
