"""Four processes, as four workers, each making 50 changes through the app at the same moment:
follows and unfollows (one dataset followed by all four) and combination edits (add, remove,
rename). Every change is answered as done, none meets "database is locked", and the final
counts are exactly what the changes add up to. (One dataset followed and unfollowed by four
processes through the service layer: tests/follows/test_concurrency.py; the 50-member limit
under parallel adds: tests/combinations/test_concurrency.py.)"""

from __future__ import annotations

import multiprocessing

from sqlalchemy import func, select

from app import create_app
from app.combinations import service as combinations
from app.config import TestConfig
from app.extensions import db
from app.models import Combination, CombinationMember, Dataset, Follow, User
from tests.conftest import CSRF_RE, PASSWORD, create_user

PROCESSES, STEPS = 4, 50


def work(url: str, email: str, combination_id: int, steps: list, ready, go, results) -> None:
    """One worker process: its own app, connection pool and session, signed in as `email`."""
    try:
        changes(url, email, combination_id, steps, ready, go, results)
    except BaseException as error:  # the parent must hear of it, not wait for it
        ready.put(email)
        results.put((email, [(0, repr(error))]))
        raise


def changes(url: str, email: str, combination_id: int, steps: list, ready, go, results) -> None:
    application = create_app(TestConfig(url))
    client = application.test_client()

    def token() -> str:
        return CSRF_RE.search(client.get("/datasets").get_data(as_text=True)).group(1)

    form = {"csrf_token": token(), "email": email, "password": PASSWORD}
    assert client.post("/auth/login", data=form).status_code == 303
    csrf = token()
    ready.put(email)
    go.wait(60)  # all four start together
    statuses = []
    for kind, subject, value in steps:
        if kind == "follow":
            path = f"/follows/{subject}"
            data = {"action": "follow" if value else "unfollow", "next": "/datasets"}
        elif kind == "member":
            path = f"/combinations/{combination_id}/members/{subject}"
            data = {"action": "add" if value else "remove", "next": "/datasets"}
        else:
            path, data = f"/combinations/{combination_id}/rename", {"name": value}
        response = client.post(path, data={"csrf_token": csrf, **data})
        statuses.append((response.status_code, response.get_data(as_text=True)[-300:]))
    results.put((email, statuses))


def plan(datasets: list[str], worker: int):
    """Fifty changes: follow toggles on four datasets (the first is everybody's), adding and
    removing six datasets in the worker's own combination, and renames; with the state they
    leave behind."""
    steps, follows, members, name = [], {}, {}, None
    for n in range(STEPS):
        if n % 2 == 0:
            repo_id = datasets[0] if n % 4 == 0 else datasets[1 + worker * 3 + (n // 4) % 3]
            follows[repo_id] = not follows.get(repo_id, False)
            steps.append(("follow", repo_id, follows[repo_id]))
        elif n % 10 == 9:
            name = f"Mix {worker}.{n}"
            steps.append(("rename", None, name))
        else:
            repo_id = datasets[20 + (n // 2) % 6]
            members[repo_id] = not members.get(repo_id, False)
            steps.append(("member", repo_id, members[repo_id]))
    return steps, follows, members, name


def test_four_processes_making_fifty_changes_each_leave_exact_counts(
    app, database_url, small_catalog
):
    datasets = list(db.session.scalars(select(Dataset.repo_id).order_by(Dataset.id)))
    # Forked: the modules are loaded once (a fresh interpreter takes seconds to import the
    # app), and each child builds its own app, engine and connections, as a worker does.
    context = multiprocessing.get_context("fork")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    workers, plans = [], []
    for worker in range(PROCESSES):
        email = f"worker{worker}@example.com"
        user = create_user(email)
        combination = combinations.create(db.session, user.id, f"Mix {worker}")
        steps, follows, members, name = plan(datasets, worker)
        plans.append((email, user.id, combination.id, follows, members, name))
        workers.append(
            context.Process(
                target=work,
                args=(database_url, email, combination.id, steps, ready, go, results),
            )
        )
    db.session.remove()  # no connection of ours is open while the children fork and write
    for process in workers:
        process.start()
    for _ in workers:
        ready.get(timeout=60)
    go.set()
    answers = dict(results.get(timeout=120) for _ in workers)
    for process in workers:
        process.join(30)
        assert process.exitcode == 0

    for email, *_ in plans:
        statuses = answers[email]
        assert not [body for status, body in statuses if "database is locked" in body]
        assert [status for status, _ in statuses] == [303] * STEPS, statuses
    db.session.expire_all()
    for _, user_id, combination_id, follows, members, name in plans:
        followed = db.session.scalars(
            select(Dataset.repo_id).join(Follow).where(Follow.user_id == user_id)
        )
        assert set(followed) == {repo_id for repo_id, on in follows.items() if on}
        in_mix = db.session.scalars(
            select(Dataset.repo_id)
            .join(CombinationMember)
            .where(CombinationMember.combination_id == combination_id)
        )
        assert set(in_mix) == {repo_id for repo_id, on in members.items() if on}
        assert db.session.get(Combination, combination_id).name == name
    everybodys = db.session.scalar(select(Dataset.id).where(Dataset.repo_id == datasets[0]))
    expected = sum(1 for plan_ in plans if plan_[3][datasets[0]])
    assert (
        db.session.scalar(select(func.count(Follow.id)).where(Follow.dataset_id == everybodys))
        == expected
    )
    assert db.session.scalar(select(func.count(User.id))) == PROCESSES
