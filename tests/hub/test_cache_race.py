"""Two requests storing the same Hub answer at once (found by bench/load.py: two people opening
reports that share a member; the second insert was a duplicate key, a 500)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.extensions import db
from app.hub.cache import cached_fetch
from app.models import HubCacheEntry

KEY = "detail:acme/movie-reviews"
TTL = timedelta(hours=1)


def test_an_answer_stored_by_another_request_meanwhile_is_overwritten_not_a_failure(app):
    def fetch_while_another_request_stores_it():
        # The other request looks, fetches and stores while this one is still fetching.
        with Session(db.engine) as other:
            answer = cached_fetch(other, KEY, TTL, lambda: {"sha": "first"})
        assert answer.value == {"sha": "first"}
        return {"sha": "second"}

    answer = cached_fetch(db.session, KEY, TTL, fetch_while_another_request_stores_it)

    assert answer.value == {"sha": "second"}
    db.session.expire_all()
    rows = db.session.scalars(select(HubCacheEntry).where(HubCacheEntry.key == KEY)).all()
    assert [json.loads(row.payload) for row in rows] == [{"sha": "second"}]
    # And the next request is served from the cache.
    assert cached_fetch(db.session, KEY, TTL, lambda: {"sha": "never"}).value == {"sha": "second"}
