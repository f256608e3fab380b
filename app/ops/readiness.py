"""Is this process ready for traffic? Database, migrations, Redis and the embedding model.

Each check says what it found in words an operator can act on; none says anything secret
(errors are named by type, the details go to the log).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.embeddings import model as embedding_model

log = logging.getLogger(__name__)

HEADS_KEY = "ops_migration_heads"
REDIS_KEY = "ops_redis"
REDIS_TIMEOUT = 1.0  # seconds: a readiness probe must answer quickly either way

_model_checked: dict[tuple[str, int, int], bool] = {}
_model_lock = threading.Lock()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def migrations_directory(app: Flask) -> Path:
    """Flask-Migrate's folder: as `flask db` finds it (from the working directory), or else
    next to the app package (a server started from another directory)."""
    migrate = app.extensions.get("migrate")
    directory = Path(getattr(migrate, "directory", None) or "migrations")
    if directory.is_absolute() or directory.is_dir():
        return directory
    return Path(app.root_path).parent / directory


def migration_heads(app: Flask) -> frozenset[str]:
    """The head revision(s) of the migration scripts, read once per process."""
    heads = app.extensions.get(HEADS_KEY)
    if heads is None:
        config = AlembicConfig()
        config.set_main_option("script_location", str(migrations_directory(app)))
        heads = frozenset(ScriptDirectory.from_config(config).get_heads())
        app.extensions[HEADS_KEY] = heads
    return heads


def check_database(app: Flask, engine: Engine) -> list[Check]:
    """The database answers, and its schema is at the head of migrations/."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = frozenset(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        log.warning("Readiness: the database did not answer (%s: %s)", type(error).__name__, error)
        return [
            Check("database", False, f"unreachable ({type(error).__name__})"),
            Check("migrations", False, "unknown: the database is unreachable"),
        ]
    try:
        heads = migration_heads(app)
    except Exception as error:  # alembic raises its own types for a missing or broken folder
        log.warning("Readiness: cannot read the migration scripts (%s)", error)
        return [
            Check("database", True, "ok"),
            Check("migrations", False, f"cannot read migrations/ ({type(error).__name__})"),
        ]
    if current == heads:
        migrations = Check("migrations", True, f"at head ({', '.join(sorted(heads))})")
    elif not current:
        migrations = Check("migrations", False, "the database is empty: run flask db upgrade")
    else:
        migrations = Check(
            "migrations",
            False,
            f"the database is at {', '.join(sorted(current))}, the code expects "
            f"{', '.join(sorted(heads))}: run flask db upgrade",
        )
    return [Check("database", True, "ok"), migrations]


def check_redis(app: Flask) -> Check:
    url = app.config.get("REDIS_URL")
    if not url:
        return Check("redis", True, "not configured")
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        client = app.extensions.get(REDIS_KEY)
        if client is None:
            client = Redis.from_url(
                url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
            )
            app.extensions[REDIS_KEY] = client
        client.ping()
    except (RedisError, OSError, ValueError) as error:
        log.warning("Readiness: Redis did not answer (%s: %s)", type(error).__name__, error)
        return Check("redis", False, f"unreachable ({type(error).__name__})")
    return Check("redis", True, "ok")


def bundled_model_problem(onnx_path: Path, data_dir: Path) -> str | None:
    """What is wrong with the bundled model's source files, or None.

    Presence of every file; the weights' sha256 is computed once per process and file version
    (size and modification time), so later probes cost a stat() per file.
    """
    names = [onnx_path, *(data_dir / name for name in embedding_model.TOKENIZER_SHA256)]
    missing = [str(path) for path in names if not path.is_file()]
    if missing:
        return f"missing: {', '.join(missing)}"
    stat = onnx_path.stat()
    key = (str(onnx_path), stat.st_size, stat.st_mtime_ns)
    with _model_lock:
        if key not in _model_checked:
            digest = embedding_model.file_sha256(onnx_path)
            _model_checked[key] = digest == embedding_model.MODEL_SHA256
    if not _model_checked[key]:
        return f"{onnx_path} does not have the expected sha256"
    return None


def check_model(app: Flask) -> Check:
    embedder = embedding_model.embedder_for(app)
    if not embedder.bundled:
        return Check("model", True, f"{embedder.model_name}: loaded by fastembed, not checked")
    try:
        onnx_path = embedding_model.installed_onnx_path()
    except embedding_model.ModelError as error:
        return Check("model", False, str(error))
    problem = bundled_model_problem(onnx_path, embedding_model.package_data_dir())
    return Check("model", problem is None, problem or "ok")


def readiness(app: Flask, engine: Engine) -> list[Check]:
    return [*check_database(app, engine), check_redis(app), check_model(app)]
