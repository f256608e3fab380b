"""Several processes following and unfollowing one dataset at once stay consistent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.extensions import db
from app.follows import service
from tests.conftest import create_user
from tests.follows.test_follows import REVIEWS, dataset_id

WORKER = """
import sys
from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.follows import service
url, user_id, dataset_id, rounds, end_following = sys.argv[1:6]
app = create_app(TestConfig(url))
with app.app_context():
    for n in range(int(rounds)):
        service.set_following(db.session, int(user_id), int(dataset_id), n % 2 == 0)
        service.set_following(db.session, int(user_id), int(dataset_id), True)  # a replay
    service.set_following(db.session, int(user_id), int(dataset_id), end_following == "1")
    db.engine.dispose()
print("done")
"""


def test_parallel_follows_leave_exact_counts_and_no_lock_errors(app, database_url, small_catalog):
    target = dataset_id(REVIEWS)
    users = [create_user(f"user{n}@example.com") for n in range(4)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                database_url,
                str(user.id),
                str(target),
                "25",
                str(n % 2),
            ],
            cwd=Path(__file__).parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, user in enumerate(users)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
        assert "database is locked" not in err
        assert out.strip() == "done"
    db.session.expire_all()
    assert service.follower_count(db.session, target) == 2  # users 1 and 3 end following
