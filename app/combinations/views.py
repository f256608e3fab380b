"""Combinations: the selection buttons and tray, the list, the report page and the export."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, user_logged_in
from sqlalchemy import select

from app.auth.redirects import safe_next
from app.combinations import manifest as manifests
from app.combinations import report as reports
from app.combinations import service
from app.combinations.licenses import license_sources
from app.combinations.mixture import METHODS, STRATEGIES
from app.combinations.service import CombinationError
from app.embeddings.model import embedder_for
from app.extensions import db
from app.htmx import is_htmx, navigate_away, redirect_after_post, render, wants_fragment
from app.hub.service import hub_client
from app.jobs.engines import submit as submit_job
from app.models import Combination, Dataset
from app.semantic.assess import SemanticReport, members_from_facts, semantic_report

bp = Blueprint("combinations", __name__)

PENDING_KEY = "pending_selection"  # kept across sign-in, like a pending follow


def _dataset_or_404(repo_id: str) -> Dataset:
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
    if dataset is None:
        abort(404, f"No dataset “{repo_id[:100]}” is in the catalog.")
    return dataset


def _owned_or_404(combination_id: int) -> Combination:
    combination = service.owned(db.session, current_user.id, combination_id)
    if combination is None:
        abort(404, "You have no combination at this address.")
    return combination


def _action(*allowed: str) -> str:
    action = request.form.get("action")
    if action not in allowed:
        abort(400, f"Say which: {' or '.join(allowed)}.")
    return action


# Selecting from results and dataset pages --------------------------------------------------


@bp.post("/selection/<path:repo_id>")
def select_dataset(repo_id: str):
    """Add to (action=add) or remove from the active combination: a state, not a toggle."""
    dataset = _dataset_or_404(repo_id)
    action = _action("add", "remove")
    back = safe_next(request.form.get("next"), url_for("datasets.show", repo_id=repo_id))
    if not current_user.is_authenticated:
        if action == "add":
            session[PENDING_KEY] = repo_id
        flash("Sign in to combine datasets.")
        return navigate_away(url_for("auth.login", next=back), 401)

    combination = service.active_or_new(db.session, current_user.id)
    error = None
    try:
        service.set_member(db.session, combination, dataset, action == "add")
    except CombinationError as problem:
        error = problem
        if not is_htmx():
            abort(problem.status, problem.message)
    if not is_htmx():
        return redirect_after_post(back)
    selected = dataset.id in service.member_ids(db.session, combination.id)
    return render(
        "combinations/_select_button.html",
        "combinations/_select_response.html",
        status=error.status if error else 200,
        dataset=dataset,
        selected=selected,
        back=back,
        error=error.message if error else None,
    )


@user_logged_in.connect
def complete_pending_selection(sender, user, **extra) -> None:
    repo_id = session.pop(PENDING_KEY, None)
    if not repo_id:
        return
    dataset = db.session.scalar(select(Dataset).where(Dataset.repo_id == repo_id))
    if dataset is None:
        return
    combination = service.active_or_new(db.session, user.id)
    try:
        service.set_member(db.session, combination, dataset, True)
        flash(f"{dataset.repo_id} is in your combination “{combination.name}”.")
    except CombinationError as problem:
        flash(problem.message)


# The list ------------------------------------------------------------------------------------


def _list_page(status: int = 200, error: str | None = None, form_name: str = ""):
    return render(
        "combinations/index.html",
        "combinations/index.html",
        status=status,
        combinations=service.combinations_of(db.session, current_user.id),
        error=error,
        form_name=form_name,
        max_members=service.MAX_MEMBERS,
    )


@bp.get("/combinations")
@login_required
def index():
    return _list_page()


@bp.post("/combinations")
@login_required
def create():
    try:
        combination = service.create(db.session, current_user.id, request.form.get("name"))
    except CombinationError as problem:
        return _list_page(problem.status, problem.message, request.form.get("name", "")[:200])
    flash(f"“{combination.name}” is your active combination: “Add” buttons add to it.")
    return redirect_after_post(url_for("combinations.show", combination_id=combination.id))


@bp.post("/combinations/import")
@login_required
def import_manifest():
    upload = request.files.get("manifest")
    raw = upload.read() if upload and upload.filename else request.form.get("manifest_text", "")
    if not raw:
        return _list_page(422, "Choose a manifest file to import, or paste one.")
    try:
        result = manifests.import_manifest(db.session, current_user.id, raw)
    except CombinationError as problem:
        db.session.rollback()
        return _list_page(problem.status, problem.message)
    message = (
        f"Imported “{result.combination.name}” with {len(result.combination.members)} datasets."
    )
    if result.skipped:
        message += f" Not in the catalog, left out: {', '.join(result.skipped[:10])}."
    flash(message)
    return redirect_after_post(url_for("combinations.show", combination_id=result.combination.id))


# One combination -------------------------------------------------------------------------------


def _report(combination: Combination, fetch: bool) -> reports.Report:
    ttl = timedelta(seconds=current_app.config["HUB_CACHE_TTL"])
    facts = reports.gather(
        db.session,
        hub_client() if fetch else None,
        combination,
        ttl,
        current_app.config["COMBINATION_FETCH_BUDGET"],
    )
    if fetch:
        reports.record_assessed_commits(db.session, facts)
    return reports.assess(combination, facts)


def _semantic(report: reports.Report, owner: bool) -> SemanticReport | None:
    """The assessment by meaning; never lets a failure take the naive report down with it."""
    if len(report.members) < 2:
        return None
    try:
        return semantic_report(
            db.session,
            embedder_for(current_app),
            members_from_facts(report.members),
            embed_missing=owner,  # a shared page's readers do not start work
        )
    except Exception:  # numpy, sklearn, the model, the database: the rest of the page stands
        current_app.logger.exception("semantic assessment failed")
        db.session.rollback()
        return SemanticReport("failed", "The assessment by meaning failed; it has been logged.")


def _embed_in_background(report: reports.Report, semantic: SemanticReport):
    """Members too many to embed within the request go to a background job the page links to."""
    missing = set(semantic.missing or [])
    ids = [m.dataset.id for m in report.members if m.repo_id in missing]
    if not ids:
        return None
    return submit_job(current_app, "embed", {"dataset_ids": sorted(ids)})


def _report_page(combination: Combination, status: int = 200, **extra):
    owner = current_user.is_authenticated and combination.user_id == current_user.id
    for name in ("rename_error", "mix_error", "submitted", "shared_token"):
        extra.setdefault(name, None)
    report = _report(combination, fetch=owner)
    manifest = manifests.build_manifest(report)
    fragment = extra.get("fragment", "combinations/show.html")
    page = not wants_fragment() or fragment == "combinations/show.html"
    semantic = _semantic(report, owner) if page else None
    embedding_job = _embed_in_background(report, semantic) if owner and semantic else None
    return render(
        "combinations/show.html",
        extra.pop("fragment", "combinations/show.html"),
        status=status,
        report=report,
        combination=combination,
        owner=owner,
        active=owner and service.active_id_of(db.session, current_user.id) == combination.id,
        snippet=manifests.python_snippet(manifest) if report.mix.plans else None,
        methods=METHODS,
        licence_sources=license_sources(),
        strategies=STRATEGIES,
        max_members=service.MAX_MEMBERS,
        semantic=semantic,
        embedding_job=embedding_job,
        share_url=url_for("combinations.shared", token=combination.share_token, _external=True)
        if owner and combination.share_token
        else None,
        **extra,
    )


@bp.get("/combinations/<int:combination_id>")
@login_required
def show(combination_id: int):
    return _report_page(_owned_or_404(combination_id))


@bp.post("/combinations/<int:combination_id>/rename")
@login_required
def rename(combination_id: int):
    combination = _owned_or_404(combination_id)
    try:
        service.rename(db.session, combination, request.form.get("name"))
    except CombinationError as problem:
        db.session.refresh(combination)
        return _report_page(combination, problem.status, rename_error=problem.message)
    flash(f"Renamed to “{combination.name}”.")
    return redirect_after_post(url_for("combinations.show", combination_id=combination.id))


@bp.post("/combinations/<int:combination_id>/duplicate")
@login_required
def duplicate(combination_id: int):
    copy = service.duplicate(db.session, _owned_or_404(combination_id))
    flash(f"Made a copy: “{copy.name}”.")
    return redirect_after_post(url_for("combinations.show", combination_id=copy.id))


@bp.post("/combinations/<int:combination_id>/delete")
@login_required
def delete(combination_id: int):
    combination = _owned_or_404(combination_id)
    name = combination.name
    service.delete_combination(db.session, combination)
    flash(f"Deleted “{name}”.")
    return redirect_after_post(url_for("combinations.index"))


@bp.post("/combinations/<int:combination_id>/activate")
@login_required
def activate(combination_id: int):
    combination = _owned_or_404(combination_id)
    service.activate(db.session, combination)
    flash(f"“Add” buttons now add to “{combination.name}”.")
    back = safe_next(request.form.get("next"), url_for("combinations.index"))
    return redirect_after_post(back)


@bp.post("/combinations/<int:combination_id>/members/<path:repo_id>")
@login_required
def set_member(combination_id: int, repo_id: str):
    combination = _owned_or_404(combination_id)
    dataset = _dataset_or_404(repo_id)
    action = _action("add", "remove")
    try:
        service.set_member(db.session, combination, dataset, action == "add")
    except CombinationError as problem:
        abort(problem.status, problem.message)
    if action == "remove":
        flash(f"Removed {dataset.repo_id} from “{combination.name}”.")
    back = safe_next(
        request.form.get("next"), url_for("combinations.show", combination_id=combination.id)
    )
    return redirect_after_post(back)


@bp.post("/combinations/<int:combination_id>/mix")
@login_required
def update_mix(combination_id: int):
    """Save the mixture settings and recompute the plan (in place with htmx)."""
    combination = _owned_or_404(combination_id)
    form = request.form
    error = None
    try:
        settings = manifests.mix_settings(
            form.get("method"), form.get("temperature"), form.get("strategy"), form.get("seed")
        )
        weights = _weights_from_form(combination)
    except CombinationError as problem:
        error = problem
    if error is None:
        for name, value in settings.items():
            setattr(combination, name, value)
        for member in combination.members:
            member.weight = weights.get(member.dataset_id)
        db.session.commit()
        if not is_htmx():
            return redirect_after_post(
                url_for("combinations.show", combination_id=combination.id) + "#mix-heading"
            )
    else:
        db.session.rollback()
        combination = _owned_or_404(combination_id)
    return _report_page(
        combination,
        error.status if error else 200,
        fragment="combinations/_mix_response.html",
        mix_error=error.message if error else None,
        submitted=form if error else None,
    )


def _weights_from_form(combination: Combination) -> dict[int, float | None]:
    weights: dict[int, float | None] = {}
    for member in combination.members:
        raw = (request.form.get(f"weight-{member.dataset_id}") or "").strip()
        if not raw:
            weights[member.dataset_id] = None
            continue
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not (0 <= value <= manifests.MAX_WEIGHT):
            raise CombinationError(
                f"The weight of {member.dataset.repo_id} must be a number of zero or more."
            )
        weights[member.dataset_id] = value
    return weights


@bp.post("/combinations/<int:combination_id>/share")
@login_required
def share(combination_id: int):
    combination = _owned_or_404(combination_id)
    if _action("share", "revoke") == "share":
        service.share(db.session, combination)
        flash("Anyone with the link can now read this combination's report (not change it).")
    else:
        service.revoke_share(db.session, combination)
        flash("The read-only link no longer works.")
    return redirect_after_post(
        url_for("combinations.show", combination_id=combination.id) + "#share-heading"
    )


# Export --------------------------------------------------------------------------------------


def _download(body: str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _export(combination: Combination, kind: str) -> Response:
    report = _report(
        combination,
        fetch=current_user.is_authenticated and combination.user_id == current_user.id,
    )
    manifest = manifests.build_manifest(report)
    stem = f"combination-{combination.id}"
    if kind == "manifest":
        return _download(manifests.manifest_json(manifest), "application/json", f"{stem}.json")
    if not report.mix.plans:
        abort(409, "The mix cannot be planned yet: " + (report.mix.problem or "no sizes known."))
    return _download(manifests.python_snippet(manifest), "text/x-python", f"{stem}.py")


@bp.get("/combinations/<int:combination_id>/manifest.json")
@login_required
def manifest(combination_id: int):
    return _export(_owned_or_404(combination_id), "manifest")


@bp.get("/combinations/<int:combination_id>/recipe.py")
@login_required
def recipe(combination_id: int):
    return _export(_owned_or_404(combination_id), "recipe")


# Read-only sharing ------------------------------------------------------------------------------


def _shared_or_404(token: str) -> Combination:
    combination = service.shared(db.session, token)
    if combination is None:
        abort(404, "This link does not lead to a shared combination (it may have been revoked).")
    return combination


@bp.get("/shared/<token>")
def shared(token: str):
    return _report_page(_shared_or_404(token), shared_token=token)


@bp.get("/shared/<token>/manifest.json")
def shared_manifest(token: str):
    return _export(_shared_or_404(token), "manifest")


@bp.get("/shared/<token>/recipe.py")
def shared_recipe(token: str):
    return _export(_shared_or_404(token), "recipe")


def init_app(app) -> None:
    @app.context_processor
    def selection_context():
        """The selection tray and which datasets on a page are in the active combination."""
        if not current_user.is_authenticated:
            return {"selection": None, "selected_ids": set()}
        active = service.active_of(db.session, current_user.id)
        return {
            "selection": active,
            "selected_ids": {m.dataset_id for m in active.members} if active else set(),
        }
