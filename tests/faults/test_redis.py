"""Redis gone (killed, or frozen so that it accepts connections and never answers): the app
neither hangs nor fails. Sign-in keeps working and stays rate limited: the limiter falls back
to counting in the process's memory (per worker, as without REDIS_URL) until Redis is back,
rather than failing open (no limit) or closed (nobody can sign in). A job submitted meanwhile
stays queued in the database, and the page that submitted it says where to watch it.

Each case uses a redis-server of its own and the app in a process of its own (the rate
limiter is one per process)."""

from __future__ import annotations

import re
import signal
import time

import pytest
from sqlalchemy import select

from app.combinations import service as combinations
from app.extensions import db
from app.models import Dataset, Job
from tests.conftest import PASSWORD, create_user
from tests.faults.conftest import AppServer, Browser, server_environment

MEMBERS = 13  # more than the 12 a report embeds itself: the rest is an embed job
ANSWER_WITHIN = 5.0  # seconds; a request stuck on Redis would take forever


def timed(call, *args, **kwargs):
    started = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - started


@pytest.fixture
def combination_to_embed(app, small_catalog):
    """Ann's combination of 13 datasets without vectors: viewing it queues an embed job."""
    user = create_user("ann@example.com")
    create_user("bob@example.com")
    combination = combinations.create(db.session, user.id, "Thirteen")
    for dataset in db.session.scalars(select(Dataset).order_by(Dataset.id).limit(MEMBERS)):
        combinations.set_member(db.session, combination, dataset, True)
    return combination.id


@pytest.mark.parametrize("outage", ["killed", "frozen"])
def test_with_redis_gone_sign_in_is_still_limited_and_jobs_wait_in_the_database(
    combination_to_embed, database_url, redis_server, app_servers, tmp_path, outage
):
    server = AppServer(
        server_environment(
            database_url, tmp_path, REDIS_URL=redis_server.url, COMBINATION_FETCH_BUDGET="0.5"
        ),
        tmp_path,
    ).start()
    app_servers.append(server)
    attacker, ann = Browser(server.url), Browser(server.url)
    for _ in range(3):  # counted in Redis
        assert attacker.sign_in("bob@example.com", "wrong guess").status_code == 422

    if outage == "killed":
        redis_server.kill()
    else:
        redis_server.process.send_signal(signal.SIGSTOP)

    # Sign-in works for the right password, within a few seconds.
    response, took = timed(ann.sign_in, "ann@example.com", PASSWORD)
    assert response.status_code == 303, response.text[:500]
    assert took < ANSWER_WITHIN
    # Wrong guesses are still counted (in memory now): 10 per 15 minutes, then a clear 429.
    statuses = []
    for _ in range(11):
        response, took = timed(attacker.sign_in, "bob@example.com", "wrong guess")
        statuses.append(response.status_code)
        assert took < ANSWER_WITHIN
    assert statuses == [422] * 10 + [429]
    assert "Too many attempts. Wait" in response.text

    # The report submits an embed job: the page answers, the job waits in the database.
    report, took = timed(ann.get, f"/combinations/{combination_to_embed}")
    assert report.status_code == 200
    assert took < ANSWER_WITHIN
    db.session.expire_all()
    job = db.session.scalar(select(Job).where(Job.kind == "embed"))
    assert job is not None and job.status == "queued"
    assert len(job.params["dataset_ids"]) == MEMBERS
    assert re.search(rf'href="/jobs/{job.id}"', report.text)
    page, took = timed(ann.get, f"/jobs/{job.id}")
    assert page.status_code == 200 and took < ANSWER_WITHIN
    assert "Traceback" not in server.log()
    if outage == "frozen":
        redis_server.process.send_signal(signal.SIGCONT)
