"""Following datasets: the toggle as page, fragment and plain form; the list; who sees what."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.follows import service
from app.models import Dataset, Follow
from tests.conftest import PASSWORD, Auth, create_user

HX = {"HX-Request": "true"}
REVIEWS = "acme/movie-reviews"


def text(response) -> str:
    return response.get_data(as_text=True)


def dataset_id(repo_id: str) -> int:
    return db.session.scalar(select(Dataset.id).where(Dataset.repo_id == repo_id))


@pytest.fixture
def ann(client, small_catalog):
    create_user("ann@example.com")
    assert Auth(client).login("ann@example.com").status_code == 303
    return Auth(client)


def post_follow(
    auth: Auth, repo_id: str, action: str = "follow", next: str = "/datasets", **kwargs
):
    return auth.post(f"/follows/{repo_id}", {"action": action, "next": next}, **kwargs)


def test_a_page_learns_whom_it_shows_followed_and_every_follower_count(app, small_catalog):
    ann, bob = create_user("ann@example.com"), create_user("bob@example.com")
    reviews, squad = dataset_id(REVIEWS), dataset_id("squad")
    unfollowed = dataset_id("someone/squad-translated-it")
    for user, target in ((ann, reviews), (bob, reviews), (bob, squad)):
        service.set_following(db.session, user.id, target, True)
    page = [reviews, squad, unfollowed]
    counts = {reviews: 2, squad: 1}
    assert service.follows_on_page(db.session, ann.id, page) == ({reviews}, counts)
    assert service.follows_on_page(db.session, bob.id, page) == ({reviews, squad}, counts)
    assert service.follows_on_page(db.session, None, page) == (set(), counts)  # signed out
    assert service.follows_on_page(db.session, ann.id, []) == (set(), {})


def test_following_is_idempotent(app, small_catalog):
    user = create_user("ann@example.com")
    target = dataset_id(REVIEWS)
    assert service.set_following(db.session, user.id, target, True) is True
    assert service.set_following(db.session, user.id, target, True) is False
    assert service.follower_count(db.session, target) == 1
    assert service.set_following(db.session, user.id, target, False) is True
    assert service.set_following(db.session, user.id, target, False) is False
    assert service.follower_count(db.session, target) == 0


def test_the_database_refuses_a_second_row(app, small_catalog):
    user = create_user("ann@example.com")
    db.session.add_all([Follow(user_id=user.id, dataset_id=dataset_id(REVIEWS)) for _ in range(2)])
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        db.session.commit()
    db.session.rollback()


def test_follow_without_javascript_redirects_back(ann, client):
    response = post_follow(ann, REVIEWS, next="/datasets?q=movie")
    assert response.status_code == 303 and response.location == "/datasets?q=movie"
    page = text(client.get("/datasets?q=movie"))
    assert re.search(r'aria-pressed="true"\s+aria-label="Unfollow acme/movie-reviews"', page)
    assert 'Following (<span id="following-count">1</span>)' in page


def test_follow_with_htmx_swaps_the_button_and_updates_counts_out_of_band(
    ann, client, rendered_templates
):
    response = post_follow(ann, REVIEWS, headers=HX)
    assert response.status_code == 200
    assert rendered_templates[-1] == "follows/_follow_response.html"  # after the token page
    body = text(response)
    assert 'aria-pressed="true"' in body and 'name="action" value="unfollow"' in body
    assert '<span id="following-count" hx-swap-oob="innerHTML">1</span>' in body
    assert (
        f'<span id="follower-count-{dataset_id(REVIEWS)}" hx-swap-oob="innerHTML">1</span>' in body
    )


def test_replays_and_double_clicks_leave_one_follow(ann):
    for _ in range(3):
        post_follow(ann, REVIEWS, headers=HX)
    assert db.session.scalar(select(func.count(Follow.id))) == 1


def test_unfollow(ann, client):
    post_follow(ann, REVIEWS)
    response = post_follow(ann, REVIEWS, action="unfollow", headers=HX)
    assert 'aria-pressed="false"' in text(response)
    assert db.session.scalar(select(func.count(Follow.id))) == 0


@pytest.mark.parametrize(
    ("action", "repo_id", "status"), [("toggle", REVIEWS, 400), ("follow", "no/such", 404)]
)
def test_bad_follow_requests(ann, action, repo_id, status):
    assert post_follow(ann, repo_id, action=action).status_code == status


def test_next_only_leads_back_to_our_pages(ann):
    assert post_follow(ann, REVIEWS, next="//evil.example/").location == f"/datasets/{REVIEWS}"


def test_a_signed_out_follow_signs_in_and_comes_back_done(client, small_catalog):
    create_user("ann@example.com")
    auth = Auth(client)
    response = post_follow(auth, REVIEWS, next="/datasets?q=movie")
    assert response.status_code == 303
    assert response.location == "/auth/login?next=/datasets?q%3Dmovie"
    response = auth.login("ann@example.com", next="/datasets?q=movie")
    assert response.location == "/datasets?q=movie"
    assert f"You now follow {REVIEWS}." in text(client.get("/datasets?q=movie"))
    assert service.follower_count(db.session, dataset_id(REVIEWS)) == 1


def test_a_signed_out_htmx_follow_navigates_to_sign_in(client, small_catalog):
    response = post_follow(Auth(client), REVIEWS, headers=HX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/auth/login?next=")


def test_the_following_page_lists_sorts_and_unfollows(ann, client):
    for repo_id in ("acme/python-functions", REVIEWS, "squad"):
        post_follow(ann, repo_id)
    body = text(client.get("/following?sort=name"))
    order = re.findall(r'<h2 class="dataset-title"><a href="/datasets/([^"]+)"', body)
    assert order == ["acme/movie-reviews", "acme/python-functions", "squad"]
    changed = text(client.get("/following"))
    assert re.findall(r'<h2 class="dataset-title"><a href="/datasets/([^"]+)"', changed)[0] == (
        "acme/python-functions"  # changed most recently (2025-06)
    )
    post_follow(ann, "squad", action="unfollow", next="/following")
    assert "squad" not in text(client.get("/following"))


def test_an_empty_following_page_points_to_the_catalog(ann, client):
    body = text(client.get("/following"))
    assert "You do not follow any dataset yet" in body and 'href="/datasets"' in body


def test_following_needs_an_account(client):
    assert client.get("/following").location == "/auth/login?next=/following"


def test_the_dataset_page_has_the_toggle_and_the_count(ann, client):
    post_follow(ann, REVIEWS)
    body = text(client.get(f"/datasets/{REVIEWS}"))
    assert f'<span id="follower-count-{dataset_id(REVIEWS)}">1</span> followers' in body
    assert 'aria-label="Unfollow acme/movie-reviews"' in body


def test_one_user_never_sees_or_changes_anothers_follows(two_users, small_catalog):
    ann, bob = Auth(two_users["a"]), Auth(two_users["b"])
    post_follow(ann, REVIEWS)
    assert "acme/movie-reviews" not in text(two_users["b"].get("/following"))
    post_follow(bob, REVIEWS, action="unfollow")
    assert service.follower_count(db.session, dataset_id(REVIEWS)) == 1
    page = text(two_users["b"].get(f"/datasets/{REVIEWS}"))
    assert 'aria-label="Follow acme/movie-reviews"' in page  # B's own state, not A's


def test_deleting_an_account_deletes_its_follows(ann, client):
    post_follow(ann, REVIEWS)
    ann.post("/account/delete", {"current_password": PASSWORD, "confirm": "y"})
    assert db.session.scalar(select(func.count(Follow.id))) == 0
