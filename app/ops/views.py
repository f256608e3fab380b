"""Operational endpoints: /health (liveness), /ready (readiness) and /metrics (Prometheus)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask_migrate.cli import db as db_commands

from app.extensions import db, limiter
from app.ops import cli, hooks, readiness
from app.ops import metrics as prometheus

bp = Blueprint("ops", __name__)


def init_app(app: Flask) -> None:
    """Request ids, request metrics and log lines, /metrics access, and `flask db backup`."""
    hooks.init_app(app)
    prometheus.init_app(app)
    db_commands.add_command(cli.backup)


def _uncached(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/health")
@limiter.exempt
def health():
    """Liveness: the process answers. No database call, so it stays cheap and never flaps."""
    return _uncached(jsonify(status="ok"))


@bp.get("/ready")
@limiter.exempt
def ready():
    """Readiness: 200 when every check passes, else 503 with the reasons; JSON either way."""
    checks = readiness.readiness(current_app, db.engine)
    body: dict = {
        "status": "ok" if all(check.ok for check in checks) else "unavailable",
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
    }
    failing = [f"{check.name}: {check.detail}" for check in checks if not check.ok]
    if failing:
        body["reasons"] = failing
    return _uncached(jsonify(body)), 503 if failing else 200


@bp.get("/metrics")
@limiter.exempt
def metrics():
    """Prometheus text format, for trusted addresses or the bearer token; 404 for anyone else."""
    if not prometheus.allowed(
        current_app, request.remote_addr, request.headers.get("Authorization")
    ):
        abort(404)
    body, content_type = prometheus.exposition(db.session)
    return _uncached(Response(body, content_type=content_type))
