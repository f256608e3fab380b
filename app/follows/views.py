"""Follow and unfollow datasets; the list of followed datasets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, user_logged_in
from sqlalchemy import select

from app.auth.redirects import safe_next
from app.extensions import db
from app.follows import feed, service
from app.follows.refresh import refresh_stale_followed
from app.htmx import is_htmx, navigate_away, redirect_after_post, render
from app.hub.service import hub_client
from app.models import Dataset
from app.templating import Lazy

bp = Blueprint("follows", __name__)

PENDING_KEY = "pending_follow"  # kept across sign-in, see auth.views.login


@bp.post("/follows/<path:repo_id>")
def set_following(repo_id: str):
    """Follow (action=follow) or unfollow: a state, not a toggle, so replays are harmless."""
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
    if dataset is None:
        abort(404, f"No dataset “{repo_id[:100]}” is in the catalog.")
    action = request.form.get("action")
    if action not in ("follow", "unfollow"):
        abort(400, "Say whether to follow or unfollow.")
    back = safe_next(request.form.get("next"), url_for("datasets.show", repo_id=repo_id))
    if not current_user.is_authenticated:
        # Sign in first, then the follow is done and the person is back where they were.
        if action == "follow":
            session[PENDING_KEY] = repo_id
        flash("Sign in to follow datasets.")
        return navigate_away(url_for("auth.login", next=back), 401)

    following = action == "follow"
    service.set_following(db.session, current_user.id, dataset.id, following)
    if not is_htmx():
        return redirect_after_post(back)
    return render(
        "follows/_follow_button.html",
        "follows/_follow_response.html",
        dataset=dataset,
        following=following,
        back=back,
        follower_count=service.follower_count(db.session, dataset.id),
        following_total=service.following_count(db.session, current_user.id),
    )


def refresh_stale_for_viewer() -> None:
    """Pages that show changes look again at a few followed datasets gone stale."""
    max_age = timedelta(seconds=current_app.config["HUB_CACHE_TTL"])
    refresh_stale_followed(db.session, hub_client(), current_user.id, max_age)


@bp.get("/following")
@login_required
def following():
    sort = request.args.get("sort", "changed")
    if sort not in service.FOLLOWING_SORTS:
        sort = "changed"
    refresh_stale_for_viewer()
    follows = service.following(db.session, current_user.id, sort)
    return render(
        "follows/following.html",
        "follows/following.html",
        follows=follows,
        sort=sort,
        sorts=service.FOLLOWING_SORTS,
        new_commits=feed.new_commit_counts(db.session, current_user.id),
        last_commits=feed.last_commits(db.session, [f.dataset_id for f in follows]),
    )


@bp.post("/following/<path:repo_id>/seen")
@login_required
def mark_dataset_seen(repo_id: str):
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
    if dataset is None or not service.is_following(db.session, current_user.id, dataset.id):
        abort(404, "You do not follow that dataset.")
    feed.mark_seen(db.session, current_user.id, dataset.id)
    return redirect_after_post(safe_next(request.form.get("next"), url_for("follows.following")))


@bp.get("/feed")
@login_required
def timeline():
    raw_page = request.args.get("page", "1")
    digits = raw_page.isascii() and raw_page.isdigit()  # "²".isdigit() too
    page = int(raw_page) if digits and 0 < int(raw_page) < 10_000 else 1
    refresh_stale_for_viewer()
    # The token first: making one commits, which would expire the changes read for the page.
    atom_url = url_for(
        "follows.atom", token=feed.feed_token(db.session, current_user), _external=True
    )
    return render(
        "follows/feed.html",
        "follows/_feed_page.html",
        feed=feed.feed_page(db.session, current_user.id, page),
        atom_url=atom_url,
    )


@bp.post("/feed/seen")
@login_required
def mark_all_seen():
    feed.mark_seen(db.session, current_user.id)
    flash("Everything in your feed is marked as seen.")
    return redirect_after_post(url_for("follows.timeline"))


@bp.get("/feed/<token>.atom")
def atom(token: str):
    """The same timeline for feed readers, behind a secret URL instead of a session."""
    owner = feed.user_for_feed_token(db.session, token)
    if owner is None:
        abort(404)
    body = render_template(
        "follows/feed.atom.xml",
        feed=feed.feed_page(db.session, owner.id, 1, per_page=100),
        self_url=request.url,
        updated=datetime.now(UTC),
    )
    return Response(body, mimetype="application/atom+xml")


@bp.post("/account/feed-token")
@login_required
def regenerate_feed_token():
    feed.feed_token(db.session, current_user._get_current_object(), regenerate=True)
    flash("Your feed has a new address; the old one no longer works.")
    return redirect_after_post(url_for("auth.account"))


@user_logged_in.connect
def complete_pending_follow(sender, user, **extra) -> None:
    repo_id = session.pop(PENDING_KEY, None)
    if not repo_id:
        return
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
    if dataset is not None:
        service.set_following(db.session, user.id, dataset.id, True)
        flash(f"You now follow {dataset.repo_id}.")


def init_app(app) -> None:
    @app.context_processor
    def follow_context():
        """The navigation's "Following (N)" and which datasets on a page are followed."""
        if not current_user.is_authenticated:
            return {"following_total": None}
        user_id = current_user.id
        return {"following_total": Lazy(lambda: service.following_count(db.session, user_id))}
