"""Every page has a budget of SQL statements, and showing more rows costs no more statements.

Statements are counted on the app's engine (`sql` fixture, before_cursor_execute) for one
request. Each page is asked for twice with few and with many rows (results per page, followed
datasets, combinations, members): the counts must be equal (no query per row) and within the
page's budget. The budgets are today's counts: a new statement on a page is a decision, made by
raising its number here with the reason.

The catalog is measured as a first hit (right after a catalog write, so the search caches of
app/catalog/search.py miss) and as a repeat hit. Hub answers are in the cache (a page viewed
once before), so counts do not depend on the fake Hub's timing.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.embeddings.store import embed_datasets
from app.extensions import db
from app.models import Combination, CombinationMember, Dataset
from app.semantic import topics
from tests.ops.conftest import (
    add_datasets,
    combination_of,
    dataset_ids,
    follow_with_history,
)

HX = {"HX-Request": "true"}

# Statements per request. Signed in adds: the user and the selection tray (which combination is
# active, it, its members, their datasets); whole pages also the "Following (N)" count, which
# fragments do not print (app.templating.Lazy). Which results they follow comes with the
# follower counts.
SIGNED_IN_EXTRA = 6
SIGNED_IN_FRAGMENT_EXTRA = 5
BUDGETS = {
    # version, the rows changed since the kept index and the catalog's size (its patch), page
    # rows, followers; the match and the ranking are in memory (and its SQL, a driver cursor)
    "browse first hit": 5,
    "browse repeat hit": 3,  # version, page rows, followers
    "search first hit": 5,
    "search repeat hit": 3,
    "dataset page": 9,  # row, 4 cached Hub answers, row again, followers, vectors stamp, similar
    "following": 7,
    "feed": 5,
    "combinations": 8,
    "combination": 16,  # the suggestions read the pool's task lists, then the five chosen rows
    "shared combination": 9,  # no user, no tray; the Hub is not asked (cached facts only)
    # A new member's three Hub answers (look up, store), its catalog row rewritten (match,
    # current values, version, update, facets; PostgreSQL's notice) and read again, the commit
    # it was assessed at. The rest of the report is not read again after each commit: that
    # was three statements per member (46 for 3 members, 76 for 13).
    "combination, one member fetched": 34,
    "topic map": 4,
    "topic": 4,
}


def explain(log: list[str]) -> str:
    return "\n".join(f"  {' '.join(statement.split())[:160]}" for statement in log)


def count(sql, client, url: str, headers: dict | None = None, status: int = 200) -> list[str]:
    response, log = sql.during(lambda: client.get(url, headers=headers or {}))
    assert response.status_code == status, url
    return log


def assert_budget(name: str, few: list[str], many: list[str], extra: int = 0) -> None:
    budget = BUDGETS[name] + extra
    assert len(many) == len(few), f"{name}: more rows, more statements\n{explain(many)}"
    assert len(many) <= budget, f"{name}: {len(many)} statements > {budget}\n{explain(many)}"


@pytest.fixture
def catalog(app):
    add_datasets(150)


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed out", "signed in"])
@pytest.mark.parametrize(
    "name, url, headers",
    [
        ("browse", "/datasets?per_page={n}", None),
        ("browse", "/datasets?per_page={n}", HX),
        ("browse", "/datasets?license=mit&sort=likes&per_page={n}", None),
        ("search", "/datasets?q=news&per_page={n}", None),
        ("search", "/datasets?q=news&per_page={n}", HX),
    ],
    ids=["browse", "browse fragment", "filtered", "search", "search fragment"],
)
def test_catalog_pages(sql, catalog, client, person, name, url, headers, signed_in):
    visitor = person.client if signed_in else client
    extra = 0
    if signed_in:
        extra = SIGNED_IN_FRAGMENT_EXTRA if headers == HX else SIGNED_IN_EXTRA
    if signed_in:
        combination_of(person.user_id, dataset_ids(3))  # the tray shows its members
        follow_with_history(person.user_id, dataset_ids(5), changes_each=0)
    first, repeat = {}, {}
    for n in (20, 100):
        add_datasets(1, prefix=f"write{n}")  # a catalog write: the next search is a first hit
        first[n] = count(sql, visitor, url.format(n=n), headers)
        repeat[n] = count(sql, visitor, url.format(n=n), headers)
    assert_budget(f"{name} first hit", first[20], first[100], extra)
    assert_budget(f"{name} repeat hit", repeat[20], repeat[100], extra)


@pytest.fixture
def embedded(app, topic_embedder, monkeypatch):
    """The real model as the app's embedder, every dataset embedded."""
    monkeypatch.setitem(app.extensions, "embedder", topic_embedder)

    def embed() -> None:
        embed_datasets(db.session, topic_embedder)

    return embed


def test_dataset_page(sql, hub_app, hub, client, person, embedded):
    add_datasets(40)
    embedded()
    repo_ids = list(db.session.scalars(db.select(Dataset.repo_id).order_by(Dataset.id).limit(2)))
    for repo_id in repo_ids:
        hub.add_dataset(repo_id, card="# A card\n\nWith text.\n")
        client.get(f"/datasets/{repo_id}")  # the Hub's answers are cached from here on
    few_followers, many_followers = dataset_ids(2)
    for number in range(12):  # followers are counted, not listed
        follow_with_history(person.user_id if number == 0 else make_user(number), [many_followers])
    pages = [count(sql, client, f"/datasets/{repo_id}") for repo_id in repo_ids]
    assert_budget("dataset page", *pages)
    signed_in = [count(sql, person.client, f"/datasets/{repo_id}") for repo_id in repo_ids]
    # The user, "do I follow it", the "Following (N)" count, no active combination.
    assert_budget("dataset page", *signed_in, extra=4)


def make_user(number: int) -> int:
    from tests.conftest import create_user

    return create_user(f"follower{number}@example.com").id


def test_following_and_feed(sql, app, person):
    add_datasets(60)
    ids = dataset_ids()
    follow_with_history(person.user_id, ids[:5])
    person.client.get("/feed")  # the first visit makes the Atom feed's token
    few = {page: count(sql, person.client, f"/{page}") for page in ("following", "feed")}
    follow_with_history(person.user_id, ids[5:40])
    many = {page: count(sql, person.client, f"/{page}") for page in ("following", "feed")}
    for page in ("following", "feed"):
        assert_budget(page, few[page], many[page])


def test_combination_list(sql, app, person):
    add_datasets(30)
    ids = dataset_ids()
    combination_of(person.user_id, ids[:2], "First")
    few = count(sql, person.client, "/combinations")
    for number in range(8):
        combination_of(person.user_id, ids[number : number + 4], f"More {number}", active=False)
    many = count(sql, person.client, "/combinations")
    assert_budget("combinations", few, many)


def test_combination_report_and_shared_page(sql, hub_app, hub, client, person, embedded):
    add_datasets(30)
    embedded()
    ids = dataset_ids()
    for dataset in db.session.scalars(db.select(Dataset)):
        hub.add_dataset(dataset.repo_id, sizes={"num_examples": 1000, "dataset_size": 50_000})
    small = combination_of(person.user_id, ids[:2], "Two")
    large = combination_of(person.user_id, ids[2:14], "Twelve", active=False)
    for combination_id, token in ((small, "s" * 32), (large, "l" * 32)):
        db.session.get(Combination, combination_id).share_token = token
        db.session.commit()
        person.client.get(f"/combinations/{combination_id}")  # fetches and caches the Hub's facts
    owner = [count(sql, person.client, f"/combinations/{c}") for c in (small, large)]
    assert_budget("combination", *owner)
    shared = [count(sql, client, f"/shared/{token}") for token in ("s" * 32, "l" * 32)]
    assert_budget("shared combination", *shared)

    # A member just added, whose facts the report fetches from the Hub.
    for combination_id, new_member in ((small, ids[14]), (large, ids[15])):
        db.session.add(CombinationMember(combination_id=combination_id, dataset_id=new_member))
        db.session.commit()
    fetching = [count(sql, person.client, f"/combinations/{c}") for c in (small, large)]
    assert_budget("combination, one member fetched", *fetching)


def test_topic_pages(sql, app, client, topic_embedder):
    def pages() -> list[list[str]]:
        version = topics.fit_topic_model(db.session, topic_embedder)
        return [
            count(sql, client, "/topics"),
            count(sql, client, f"/topics/{version.topics[0].number}"),
        ]

    add_datasets(24)
    few = pages()
    add_datasets(96, prefix="more")
    many = pages()
    assert_budget("topic map", few[0], many[0])
    assert_budget("topic", few[1], many[1])


# Writes that touch many rows ------------------------------------------------------------------


def statements(sql, write) -> int:
    _, log = sql.during(write)
    return len(log)


def test_catalog_import_is_batched(sql, app):
    """5x the records: 3 batches of 500 instead of 1, not 5x the statements per record."""
    few = statements(sql, lambda: add_datasets(300, prefix="few"))
    many = statements(sql, lambda: add_datasets(1500, prefix="many"))
    assert many <= 3 * few  # a batch costs what the single batch of 300 did
    assert many * 50 < 1500  # at least 50 records per statement


def test_catalog_sync_is_batched(sql, app, hub):
    """A page of 100 datasets from the Hub is written with a few statements, whatever is on it."""
    from app.hub.client import HubClient
    from app.hub.sync import sync_catalog
    from tests.hub.conftest import settings_for

    hub_client = HubClient(settings_for(hub))
    for number in range(1000):
        hub.add_dataset(f"org/set-{number:04d}", downloads=number)
    one_page = statements(
        sql, lambda: sync_catalog(db.session, hub_client, page_size=100, limit=100)
    )
    # Resumed from the second page: the other 900 (9 pages), sync state saved after each.
    rest = statements(sql, lambda: sync_catalog(db.session, hub_client, page_size=100))
    assert db.session.scalar(sa.select(sa.func.count(Dataset.id))) == 1000
    assert rest <= 9 * one_page + 2
    assert rest * 10 < 900  # at least 10 datasets per statement


EMBED_BATCH = 64


def test_new_embeddings_are_written_in_batches(sql, app, topic_embedder):
    add_datasets(EMBED_BATCH)
    few = statements(
        sql, lambda: embed_datasets(db.session, topic_embedder, batch_size=EMBED_BATCH)
    )
    add_datasets(4 * EMBED_BATCH, prefix="more")
    many = statements(
        sql, lambda: embed_datasets(db.session, topic_embedder, batch_size=EMBED_BATCH)
    )
    assert many <= 4 * few  # 4 batches of new vectors; each inserted with one statement


def test_changed_embeddings_are_written_in_batches(sql, app, topic_embedder):
    add_datasets(4 * EMBED_BATCH)
    embed_datasets(db.session, topic_embedder, batch_size=EMBED_BATCH)
    db.session.execute(sa.update(Dataset).values(description=Dataset.description + " (changed)"))
    db.session.commit()
    count = statements(
        sql, lambda: embed_datasets(db.session, topic_embedder, batch_size=EMBED_BATCH)
    )
    assert count * 10 < 4 * EMBED_BATCH  # at least 10 vectors per statement
