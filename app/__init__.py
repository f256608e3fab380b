"""Dataset Explorer: explore, follow and combine the public datasets of the Hugging Face Hub."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from app import database  # noqa: F401  (registers the SQLite pragmas)
from app.config import INSTANCE_DIR, Config
from app.extensions import csrf, db, migrate


def create_app(config: Any = None) -> Flask:
    """Build the application; `config` is a Config-like object or a mapping of overrides."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
        static_folder="../static",
    )
    if config is None:
        app.config.from_object(Config())
    elif isinstance(config, dict):
        app.config.from_object(Config())
        app.config.update(config)
    else:
        app.config.from_object(config)
    app.config.from_prefixed_env()
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"))

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    csrf.init_app(app)

    from app import errors, security, templating
    from app.catalog import cli as catalog_cli
    from app.catalog.views import bp as catalog_bp
    from app.ops.views import bp as ops_bp

    templating.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(catalog_bp)
    app.register_blueprint(ops_bp)
    app.cli.add_command(catalog_cli.catalog)
    return app
