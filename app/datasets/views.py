"""One dataset: its page with card and sizes, and its commit history."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, redirect, request, url_for
from flask_login import current_user

from app.catalog.records import is_valid_repo_id
from app.datasets import detail
from app.datasets.card import render_card
from app.embeddings.model import embedder_for
from app.extensions import db
from app.follows import service as follows
from app.htmx import render
from app.hub.cache import Cached
from app.hub.service import hub_client
from app.semantic.similar import SimilarAnswer, similar_to

bp = Blueprint("datasets", __name__)


def cache_ttl() -> timedelta:
    return timedelta(seconds=current_app.config["HUB_CACHE_TTL"])


def hub_page_url(repo_id: str, *parts: str) -> str:
    return "/".join([current_app.config["HF_ENDPOINT"], "datasets", repo_id, *parts])


def not_found(repo_id: str):
    return render(
        "datasets/not_found.html",
        "datasets/not_found.html",
        404,
        repo_id=repo_id,
        suggestions=detail.suggestions(db.session, repo_id) if is_valid_repo_id(repo_id) else [],
    )


def locate(repo_id: str, endpoint: str):
    """(the mirrored dataset or None, or a response to send instead: 404 or a rename redirect)."""
    if not is_valid_repo_id(repo_id):
        return None, not_found(repo_id)
    dataset, renamed = detail.find_dataset(db.session, repo_id)
    if renamed:
        return None, redirect(url_for(endpoint, repo_id=renamed), 301)
    return dataset, None


@bp.get("/datasets/<path:repo_id>")
def show(repo_id: str):
    dataset, answered = locate(repo_id, "datasets.show")
    if answered:
        return answered
    client, ttl = hub_client(), cache_ttl()
    info = detail.details(db.session, client, repo_id, ttl)
    if dataset is None:
        dataset, _ = detail.find_dataset(db.session, repo_id)  # fetched just now from the Hub
        if dataset is None:
            if info.value is None:  # neither we nor the Hub can say anything
                return hub_unavailable(info, url_for("datasets.show", repo_id=repo_id))
            return not_found(repo_id)
    card_answer = detail.card(db.session, client, repo_id, ttl)
    size_answer = detail.sizes(db.session, client, repo_id, ttl)
    info_answer = detail.columns(db.session, client, repo_id, ttl)
    db.session.refresh(dataset)
    card_text = (card_answer.value or {}).get("text")
    rendered = (
        render_card(card_text, hub_page_url(repo_id, "blob", "main") + "/") if card_text else None
    )
    return render(
        "datasets/show.html",
        "datasets/show.html",
        dataset=dataset,
        info=info,
        card=card_answer,
        rendered_card=rendered,
        size=size_answer,
        columns=info_answer,
        stale_since=oldest_stale([info, card_answer, size_answer, info_answer]),
        following=current_user.is_authenticated
        and follows.is_following(db.session, current_user.id, dataset.id),
        follower_count=follows.follower_count(db.session, dataset.id),
        hub_url=hub_page_url(repo_id),
        similar=_similar(dataset),
    )


def _similar(dataset) -> SimilarAnswer | None:
    """The nearest datasets by meaning; a failure there never takes the page down."""
    try:
        return similar_to(db.session, embedder_for(current_app), dataset)
    except Exception:  # the model, numpy, the database: the rest of the page stands
        current_app.logger.exception("similar datasets failed for %s", dataset.repo_id)
        db.session.rollback()
        return None


def oldest_stale(answers: list[Cached]):
    """When the Hub could not be reached: the oldest time of what we show instead."""
    times = [a.fetched_at for a in answers if a.problem]
    if not times:
        return None
    known = [t for t in times if t is not None]
    return min(known) if known else "never"


def hub_unavailable(answer: Cached, retry_url: str):
    return render(
        "datasets/unavailable.html",
        "datasets/_unavailable.html",
        503,
        problem=answer.problem,
        retry_url=retry_url,
    )


@bp.get("/datasets/<path:repo_id>/commits")
def commits(repo_id: str):
    """A page of the history: the fragment the dataset page loads, or a page of its own."""
    dataset, answered = locate(repo_id, "datasets.commits")
    if answered:
        return answered
    if dataset is None:
        return not_found(repo_id)
    raw_page = request.args.get("page", "1")
    digits = raw_page.isascii() and raw_page.isdigit()  # "²".isdigit() too
    page = int(raw_page) if digits and 0 < int(raw_page) < 100_000 else 1
    answer = detail.commits(db.session, hub_client(), repo_id, page - 1, cache_ttl())
    here = url_for("datasets.commits", repo_id=repo_id, page=page)
    if answer.value is None:
        return hub_unavailable(answer, here)
    return render(
        "datasets/commits.html",
        "datasets/_commits.html",
        dataset=dataset,
        history=answer,
        page=page,
        hub_url=hub_page_url(repo_id),
    )
