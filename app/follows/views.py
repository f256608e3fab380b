"""Follow and unfollow datasets; the list of followed datasets."""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, session, url_for
from flask_login import current_user, login_required, user_logged_in
from sqlalchemy import select

from app.auth.redirects import safe_next
from app.extensions import db
from app.follows import service
from app.htmx import is_htmx, navigate_away, redirect_after_post, render
from app.models import Dataset

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


@bp.get("/following")
@login_required
def following():
    sort = request.args.get("sort", "changed")
    if sort not in service.FOLLOWING_SORTS:
        sort = "changed"
    return render(
        "follows/following.html",
        "follows/following.html",
        follows=service.following(db.session, current_user.id, sort),
        sort=sort,
        sorts=service.FOLLOWING_SORTS,
    )


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
        return {"following_total": service.following_count(db.session, current_user.id)}
