"""Combinations through HTTP: selecting, the tray, the list, ownership, limits and sharing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.combinations import service
from app.extensions import db
from app.models import ActiveCombination, Combination, CombinationMember, Dataset, User
from tests.conftest import CSRF_RE, Auth, create_user

HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


def token_of(client) -> str:
    return CSRF_RE.search(text(client.get("/datasets"))).group(1)


def post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={"csrf_token": token_of(client), **(data or {})}, **kwargs)


def select_dataset(client, repo_id: str, action: str = "add", **kwargs):
    return post(client, f"/selection/{repo_id}", {"action": action, "next": "/datasets"}, **kwargs)


def members_of(combination_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(Dataset.repo_id)
            .join(CombinationMember, CombinationMember.dataset_id == Dataset.id)
            .where(CombinationMember.combination_id == combination_id)
            .order_by(Dataset.repo_id)
        )
    )


def only_combination(email: str = "ann@example.com") -> Combination:
    user = db.session.scalar(select(User).where(User.email == email))
    return db.session.scalar(select(Combination).where(Combination.user_id == user.id))


@pytest.fixture
def ann(app, client, small_catalog):
    create_user("ann@example.com")
    assert Auth(client).login("ann@example.com").status_code == 303
    return client


def test_the_first_add_makes_an_active_combination_and_updates_button_and_tray(ann):
    response = select_dataset(ann, "squad", headers=HX)
    assert response.status_code == 200
    body = text(response)
    assert 'aria-pressed="true"' in body and "In combination ✓" in body
    assert '<input type="hidden" name="action" value="remove">' in body
    assert (
        'id="selection-tray" class="selection-tray"' in body and 'hx-swap-oob="outerHTML"' in body
    )
    assert 'Combination “My combination”: <span class="tray-count">1</span> dataset' in body
    combination = only_combination()
    assert combination.name == "My combination" and members_of(combination.id) == ["squad"]
    assert db.session.get(ActiveCombination, combination.user_id).combination_id == combination.id


def test_adding_twice_or_removing_twice_changes_nothing(ann):
    for _ in range(2):
        assert select_dataset(ann, "squad").status_code == 303
    assert members_of(only_combination().id) == ["squad"]
    for _ in range(2):
        assert select_dataset(ann, "squad", "remove").status_code == 303
    assert members_of(only_combination().id) == []


def test_without_javascript_the_button_posts_and_comes_back(ann):
    response = select_dataset(ann, "acme/movie-reviews")
    assert response.status_code == 303 and response.headers["Location"] == "/datasets"
    page = text(ann.get("/datasets?q=movie"))
    row = page[page.index("/selection/acme/movie-reviews") :][:900]
    assert 'aria-pressed="true"' in row
    assert "acme/movie-reviews</a>" in page[page.index('id="selection-tray"') :]


def test_the_dataset_page_has_the_same_button(ann):
    select_dataset(ann, "squad")
    page = text(ann.get("/datasets/squad"))
    assert 'action="/selection/squad"' in page and "In combination ✓" in page


def test_signed_out_adding_asks_to_sign_in_then_adds(app, client, small_catalog):
    create_user("ann@example.com")
    response = select_dataset(client, "squad", headers=HX)
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/auth/login")
    assert select_dataset(client, "squad").status_code == 303
    Auth(client).login("ann@example.com")
    assert members_of(only_combination().id) == ["squad"]


def test_bad_selection_requests_get_clear_answers(ann):
    assert select_dataset(ann, "nobody/nothing").status_code == 404
    assert post(ann, "/selection/squad", {"action": "toggle"}).status_code == 400
    assert post(ann, "/selection/squad", {}).status_code == 400


def add_datasets(count: int) -> list[Dataset]:
    extra = [Dataset(repo_id=f"bulk/dataset-{n:02d}") for n in range(count)]
    db.session.add_all(extra)
    db.session.commit()
    return extra


def test_a_combination_holds_at_most_fifty_datasets_and_says_so(ann):
    add_datasets(10)
    ids = list(db.session.scalars(select(Dataset.repo_id).order_by(Dataset.repo_id)))
    assert len(ids) >= 51
    user = db.session.scalar(select(User))
    combination = service.active_or_new(db.session, user.id)
    for repo_id in ids[:50]:
        service.set_member(
            db.session,
            combination,
            db.session.scalar(select(Dataset).where(Dataset.repo_id == repo_id)),
            True,
        )
    response = select_dataset(ann, ids[50], headers=HX)
    assert response.status_code == 409
    body = text(response)
    assert (
        "at most 50 datasets" in body and 'role="alert"' in body and 'aria-pressed="false"' in body
    )
    plain = select_dataset(ann, ids[50])
    assert plain.status_code == 409 and "at most 50 datasets" in text(plain)
    assert len(members_of(combination.id)) == 50
    # Removing one makes room again.
    assert select_dataset(ann, ids[0], "remove").status_code == 303
    assert select_dataset(ann, ids[50]).status_code == 303
    assert len(members_of(combination.id)) == 50


def test_create_rename_duplicate_activate_and_delete(ann):
    response = post(ann, "/combinations", {"name": "  Vision   mix "})
    assert response.status_code == 303
    vision = only_combination()
    assert (
        vision.name == "Vision mix" and response.headers["Location"] == f"/combinations/{vision.id}"
    )
    select_dataset(ann, "acme/handwritten-digits")
    assert members_of(vision.id) == ["acme/handwritten-digits"]

    assert post(ann, f"/combinations/{vision.id}/rename", {"name": "Digits"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Combination, vision.id).name == "Digits"

    copy = post(ann, f"/combinations/{vision.id}/duplicate")
    copy_id = int(copy.headers["Location"].rsplit("/", 1)[1])
    assert db.session.get(Combination, copy_id).name == "Digits (copy)"
    assert members_of(copy_id) == ["acme/handwritten-digits"]
    listing = text(ann.get("/combinations"))
    assert "Digits (copy)" in listing and "<strong>Active</strong>" in listing

    assert post(ann, f"/combinations/{copy_id}/activate").status_code == 303
    select_dataset(ann, "squad")
    assert members_of(copy_id) == ["acme/handwritten-digits", "squad"]
    assert members_of(vision.id) == ["acme/handwritten-digits"]

    assert post(ann, f"/combinations/{copy_id}/delete").status_code == 303
    assert db.session.get(Combination, copy_id) is None
    # The deleted one was active: the other one takes over.
    user = db.session.scalar(select(User))
    assert service.active_id_of(db.session, user.id) == vision.id
    assert db.session.scalar(select(func.count()).select_from(Dataset)) >= 45  # datasets stay


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("", 422, "Give the combination a name."),
        ("x" * 101, 422, "Keep the name to 100 characters"),
        ("tab\tin\x07name", 422, "control characters"),
        ("taken", 409, "You already have a combination called “taken”."),
        ("TAKEN", 409, "You already have a combination called “TAKEN”."),
    ],
)
def test_bad_names_get_a_clear_message_and_change_nothing(ann, name, status, message):
    post(ann, "/combinations", {"name": "taken"})
    response = post(ann, "/combinations", {"name": name})
    assert response.status_code == status
    assert message in text(response)
    assert db.session.scalar(select(func.count()).select_from(Combination)) == 1
    rename = post(ann, f"/combinations/{only_combination().id}/rename", {"name": name})
    if name.lower() == "taken":  # renaming itself to another spelling is allowed
        assert rename.status_code == 303
        return
    assert rename.status_code == status and message in text(rename)
    db.session.expire_all()
    assert only_combination().name == "taken"


def test_another_persons_combination_is_a_404_everywhere(two_users, small_catalog):
    ann, bob = two_users["a"], two_users["b"]
    post(ann, "/combinations", {"name": "Ann's"})
    select_dataset(ann, "squad")
    combination = only_combination()
    cid = combination.id
    for url in (
        f"/combinations/{cid}",
        f"/combinations/{cid}/manifest.json",
        f"/combinations/{cid}/recipe.py",
    ):
        assert bob.get(url).status_code == 404, url
    writes = [
        (f"/combinations/{cid}/rename", {"name": "Bob's now"}),
        (f"/combinations/{cid}/duplicate", {}),
        (f"/combinations/{cid}/activate", {}),
        (f"/combinations/{cid}/delete", {}),
        (f"/combinations/{cid}/share", {"action": "share"}),
        (
            f"/combinations/{cid}/mix",
            {"method": "equal", "temperature": "2", "strategy": "all_exhausted", "seed": "1"},
        ),
        (f"/combinations/{cid}/members/squad", {"action": "remove"}),
        (f"/combinations/{cid}/members/acme/movie-reviews", {"action": "add"}),
    ]
    for url, data in writes:
        assert post(bob, url, data).status_code == 404, url
    db.session.expire_all()
    combination = db.session.get(Combination, cid)
    assert combination.name == "Ann's" and combination.share_token is None
    assert combination.mix_method == "proportional" and members_of(cid) == ["squad"]
    assert db.session.scalar(select(func.count()).select_from(Combination)) == 1
    # Bob's own "Add" never lands in Ann's combination.
    select_dataset(bob, "acme/movie-reviews")
    assert members_of(cid) == ["squad"]


def test_a_shared_link_shows_the_report_read_only_until_revoked(app, ann):
    select_dataset(ann, "squad")
    select_dataset(ann, "acme/movie-reviews")
    cid = only_combination().id
    response = post(ann, f"/combinations/{cid}/share", {"action": "share"})
    assert response.status_code == 303
    page = text(ann.get(f"/combinations/{cid}"))
    link = re.search(r'id="share-url" type="text" readonly value="([^"]+)"', page).group(1)
    path = link.split("://", 1)[1].split("/", 1)[1]
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 32

    stranger = app.test_client()
    shared = stranger.get(f"/{path}")
    assert shared.status_code == 200
    body = text(shared)
    assert "squad" in body and "acme/movie-reviews" in body and "read only" in body
    assert 'id="mix-form"' not in body and "/rename" not in body and "/delete" not in body
    assert stranger.get(f"/{path}/manifest.json").status_code == 200
    # Sharing again keeps the same link.
    post(ann, f"/combinations/{cid}/share", {"action": "share"})
    db.session.expire_all()
    assert db.session.get(Combination, cid).share_token == token

    assert post(ann, f"/combinations/{cid}/share", {"action": "revoke"}).status_code == 303
    gone = stranger.get(f"/{path}")
    assert gone.status_code == 404 and "revoked" in text(gone)
    assert stranger.get(f"/{path}/manifest.json").status_code == 404


def test_lists_and_reports_need_an_account(client, small_catalog):
    assert client.get("/combinations").status_code in (302, 401)
    assert client.get("/combinations/1").status_code in (302, 401)
    assert client.get("/shared/not-a-token").status_code == 404
