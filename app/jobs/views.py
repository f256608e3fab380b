"""A job's progress page, public like the catalog it works on; jobs are not started here."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, url_for

from app.extensions import db
from app.htmx import render
from app.jobs import service
from app.jobs.engines import recover_stale
from app.models import Job

bp = Blueprint("jobs", __name__)

TOPIC_MAP_PATH = "/topics"
JOB_ID = re.compile(r"[1-9][0-9]{0,9}")
MAX_ID = 2**31 - 1  # the column is an INTEGER: PostgreSQL refuses a larger number outright


@bp.get("/jobs/<job_id>")
def show(job_id: str):
    # Checked here, not by an int converter: a number too big for the column is a 404 too.
    number = int(job_id) if JOB_ID.fullmatch(job_id) else 0
    job = db.session.get(Job, number) if 0 < number <= MAX_ID else None
    if job is None:
        abort(404, "There is no job with this number.")
    if job.status == service.RUNNING and recover_stale(current_app._get_current_object()):
        db.session.refresh(job)  # its worker had died: it is queued again
    return render(
        "jobs/show.html",
        "jobs/_progress.html",
        job=job,
        title=service.kind_title(job.kind),
        active=job.status in service.ACTIVE,
        onward=onward_link(job),
    )


def onward_link(job: Job) -> tuple[str, str] | None:
    """Where to go once the job is done: the topic map for topics, the catalog for embeddings."""
    if job.status != service.DONE:
        return None
    if job.kind == "embed":
        return url_for("catalog.browse"), "Search the catalog"
    if job.kind == "topics":
        # The topic map belongs to app.semantic; link to it once it is registered.
        for rule in current_app.url_map.iter_rules():
            if rule.rule == TOPIC_MAP_PATH and "GET" in (rule.methods or ()):
                return url_for(rule.endpoint), "See the topic map"
    return None
