"""The limit of 50 holds when several requests add to the same combination at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from app.combinations import service
from app.combinations.service import MAX_MEMBERS, CombinationError
from app.extensions import db
from app.models import Combination, CombinationMember, Dataset
from tests.conftest import create_user

PARALLEL = 6


def test_parallel_adds_stop_exactly_at_the_limit(app):
    user = create_user("ann@example.com")
    combination = service.create(db.session, user.id, "Busy")
    datasets = [Dataset(repo_id=f"bulk/d{n:02d}") for n in range(MAX_MEMBERS - 2 + PARALLEL)]
    db.session.add_all(datasets)
    db.session.commit()
    for dataset in datasets[: MAX_MEMBERS - 2]:
        service.set_member(db.session, combination, dataset, True)
    combination_id = combination.id
    late_ids = [d.id for d in datasets[MAX_MEMBERS - 2 :]]
    barrier = threading.Barrier(PARALLEL)

    def add(dataset_id: int) -> str:
        with app.app_context():
            try:
                mine = db.session.get(Combination, combination_id)
                dataset = db.session.get(Dataset, dataset_id)
                barrier.wait(timeout=10)
                service.set_member(db.session, mine, dataset, True)
                return "added"
            except CombinationError as error:
                assert error.status == 409
                return "full"
            finally:
                db.session.remove()

    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(add, late_ids))

    assert sorted(outcomes) == ["added"] * 2 + ["full"] * (PARALLEL - 2)
    count = db.session.scalar(
        select(func.count()).where(CombinationMember.combination_id == combination_id)
    )
    assert count == MAX_MEMBERS
