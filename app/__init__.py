"""Dataset Explorer: explore, follow and combine the public datasets of the Hugging Face Hub."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app import database  # noqa: F401  (registers the SQLite pragmas)
from app.config import INSTANCE_DIR, Config, check_production, load_config
from app.extensions import csrf, db, limiter, login_manager, migrate
from app.hub import service as hub_service
from app.ops import logs as ops_logs
from app.ops import tracing as ops_tracing


class IdConverter(IntegerConverter):
    """<int:...> in URLs stops at the largest id the database holds (INTEGER: 2**31 - 1 on
    PostgreSQL), so a larger number is a 404 like any unknown id, never an overflow error."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def create_app(config: Any = None) -> Flask:
    """Build the application; `config` is a Config-like object or a mapping of overrides."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
        static_folder="../static",
    )
    app.url_map.converters["int"] = IdConverter  # before any route is added
    if config is None:
        app.config.from_object(load_config())
    elif isinstance(config, dict):
        app.config.from_object(Config())
        app.config.update(config)
    else:
        app.config.from_object(config)
    app.config.from_prefixed_env()
    ops_logs.configure_logging(app.config)  # LOG_FORMAT json|text; request ids on every line

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    init_login(app)
    hub_service.init_app(app)
    ops_tracing.init_app(app)  # only when OTEL_TRACES_EXPORTER names an exporter

    if app.config.get("PRODUCTION"):
        with app.app_context():
            for warning in check_production(app.config, lambda: sqlite_journal_mode()):
                app.logger.warning(warning)
    if app.config.get("TRUSTED_PROXIES"):
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    from app import assets, errors, http_cache, security, templating
    from app.auth.views import bp as auth_bp
    from app.catalog import cli as catalog_cli
    from app.catalog.views import bp as catalog_bp
    from app.combinations import views as combinations_views
    from app.datasets.views import bp as datasets_bp
    from app.embeddings import cli as embeddings_cli
    from app.follows import cli as follows_cli
    from app.follows import views as follows_views
    from app.jobs import cli as jobs_cli
    from app.jobs import engines as jobs_engines
    from app.jobs.views import bp as jobs_bp
    from app.ops import views as ops_views
    from app.ops.views import bp as ops_bp
    from app.semantic import cli as topics_cli
    from app.semantic.topic_views import bp as topics_bp

    templating.init_app(app)
    assets.init_app(app)
    http_cache.init_app(app)  # before security: its hook runs last, and has the last word
    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(datasets_bp)
    app.register_blueprint(follows_views.bp)
    follows_views.init_app(app)
    app.register_blueprint(combinations_views.bp)
    combinations_views.init_app(app)
    app.register_blueprint(auth_bp)
    app.register_blueprint(ops_bp)
    ops_views.init_app(app)
    app.register_blueprint(jobs_bp)
    jobs_engines.init_app(app)
    app.register_blueprint(topics_bp)
    app.cli.add_command(catalog_cli.catalog)
    app.cli.add_command(follows_cli.follows)
    app.cli.add_command(embeddings_cli.embeddings)
    app.cli.add_command(jobs_cli.jobs)
    app.cli.add_command(topics_cli.topics)
    if app.config.get("SYNC_ON_START"):
        start_background_sync(app)
    return app


def start_background_sync(app: Flask) -> None:
    """Bring the mirror up to date without holding up start-up; offline, say so once."""
    from app.hub.errors import HubError
    from app.hub.sync import sync_catalog
    from app.jobs.engines import submit_embedding

    def run() -> None:
        with app.app_context():
            try:
                summary = sync_catalog(
                    db.session, hub_service.hub_client(), limit=app.config["SYNC_ON_START_LIMIT"]
                )
                app.logger.info("Catalog sync: %s", summary)
                submit_embedding(app, summary.counts)
            except HubError as error:
                app.logger.warning(
                    "The Hub is unreachable (%s); serving the catalog already in the database.",
                    error,
                )
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name="catalog-sync", daemon=True)
    app.extensions["sync_thread"] = thread  # so tests (and shutdown code) can wait for it
    thread.start()


def init_login(app: Flask) -> None:
    from app.auth.accounts import user_for_login_id
    from app.auth.views import unauthorized

    login_manager.init_app(app)
    login_manager.user_loader(lambda login_id: user_for_login_id(db.session, login_id))
    login_manager.unauthorized_handler(unauthorized)


def sqlite_journal_mode() -> str:
    return db.session.execute(text("PRAGMA journal_mode")).scalar() or ""
