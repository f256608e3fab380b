"""The topic map of the catalog, and each topic's datasets."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from app.extensions import db
from app.semantic import topics

bp = Blueprint("topics", __name__)

PER_PAGE = 50


@bp.get("/topics")
def index():
    return render_template("topics/index.html", topic_map=topics.topics_page(db.session))


# A string, checked here: the route test builds every GET URL with text placeholders.
@bp.get("/topics/<number>")
def show(number: str):
    page = request.args.get("page", 1, type=int)
    if not number.isascii() or not number.isdigit() or page < 1:
        abort(404)
    found = topics.topic_datasets(db.session, int(number), page, PER_PAGE)
    if found is None or (page > found.page_count):
        abort(404)
    return render_template(
        "topics/show.html", found=found, search_terms=topics.search_terms_for(found.topic)
    )
