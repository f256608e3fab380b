"""Configuration read from the environment, with safe defaults for local use."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

INSTANCE_DIR = Path(os.environ.get("DATASET_EXPLORER_INSTANCE", Path.cwd() / "instance"))


def normalise_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at the psycopg 3 driver we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def local_secret_key(instance_dir: Path) -> str:
    """A random key kept in instance/ so local sessions survive restarts; never for production."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    key_file = instance_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # The pragmas (WAL, busy_timeout, foreign_keys) are set per connection in app.database.
        return {"connect_args": {"timeout": 5}}
    return {"pool_pre_ping": True}


class Config:
    """Defaults for a developer's machine; every value can come from the environment."""

    def __init__(self) -> None:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        default_db = f"sqlite:///{INSTANCE_DIR / 'dataset_explorer.db'}"
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("DATABASE_URL", default_db)
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret_key(INSTANCE_DIR)
        self.HF_ENDPOINT = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        self.HUGGINGFACE_API_TOKEN = os.environ.get("HUGGINGFACE_API_TOKEN") or os.environ.get(
            "HF_TOKEN"
        )
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
        self.MAX_CONTENT_LENGTH = 1024 * 1024
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"


class TestConfig(Config):
    """Tests bring their own database URL and a fixed key."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key-not-for-production"
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(database_url)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
