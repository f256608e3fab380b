"""Configuration read from the environment, with safe defaults for local use."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
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
    # A server that does not answer (not one that refuses) fails in 5 s, not the OS's minutes:
    # /ready and every request must answer while the database is away.
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}


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
        self.HF_DATASETS_SERVER = os.environ.get(
            "HF_DATASETS_SERVER", "https://datasets-server.huggingface.co"
        ).rstrip("/")
        # Per Hub call: connect and read timeouts inside a total budget (retries included),
        # well under gunicorn's 30 s worker timeout even for a page that makes three calls.
        self.HUB_CONNECT_TIMEOUT = float(os.environ.get("HUB_CONNECT_TIMEOUT", "3.05"))
        self.HUB_READ_TIMEOUT = float(os.environ.get("HUB_READ_TIMEOUT", "5"))
        # A cold dataset page makes four calls: 4 x 5 s stays under gunicorn's 30 s timeout.
        self.HUB_BUDGET = float(os.environ.get("HUB_BUDGET", "5"))
        self.HUB_ATTEMPTS = int(os.environ.get("HUB_ATTEMPTS", "3"))
        self.HUB_CACHE_TTL = int(os.environ.get("HUB_CACHE_TTL", "3600"))
        # A combination's report asks the Hub about members for at most this long per view.
        self.COMBINATION_FETCH_BUDGET = float(os.environ.get("COMBINATION_FETCH_BUDGET", "4"))
        self.SYNC_ON_START = os.environ.get("SYNC_ON_START", "") == "1"
        self.SYNC_ON_START_LIMIT = int(os.environ.get("SYNC_ON_START_LIMIT", "2000"))
        self.LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
        self.LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").lower()  # or json (app.ops.logs)
        self.LOG_REQUESTS = os.environ.get("LOG_REQUESTS", "")  # a line per request; "": if json
        # /metrics: these addresses or networks (the real client's, with TRUSTED_PROXIES), or a
        # request with `Authorization: Bearer $METRICS_TOKEN`; anyone else gets a 404.
        self.METRICS_ALLOW = os.environ.get("METRICS_ALLOW", "127.0.0.0/8,::1")
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
        self.MAX_CONTENT_LENGTH = 1024 * 1024
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
        self.REMEMBER_COOKIE_DURATION = timedelta(days=30)
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REDIS_URL = os.environ.get("REDIS_URL")
        # With REDIS_URL, fresh Hub answers are shared in Redis in front of the database
        # (app.hub.redis_cache); HUB_CACHE_REDIS=0 keeps Redis for limits and jobs only.
        self.HUB_CACHE_REDIS = os.environ.get("HUB_CACHE_REDIS", "1") != "0"
        # Background jobs (app.jobs): "rq" when REDIS_URL is set, else a thread in the web
        # process; JOBS_ENGINE ("thread", "rq" or "inline") forces one.
        self.JOBS_ENGINE = os.environ.get("JOBS_ENGINE") or None
        # The thread engine starts with the first request a web process serves (0: never).
        self.JOBS_AUTOSTART = os.environ.get("JOBS_AUTOSTART", "1") != "0"
        self.JOBS_POLL_SECONDS = float(os.environ.get("JOBS_POLL_SECONDS", "5"))
        self.JOBS_QUEUE = os.environ.get("JOBS_QUEUE", "dataset-explorer")
        self.JOBS_TIMEOUT = int(os.environ.get("JOBS_TIMEOUT", str(6 * 3600)))  # per RQ job
        # A running job's worker writes a heartbeat this often; a job silent for
        # JOBS_STALE_SECONDS lost its worker and is queued again.
        self.JOBS_HEARTBEAT_SECONDS = float(os.environ.get("JOBS_HEARTBEAT_SECONDS", "30"))
        self.JOBS_STALE_SECONDS = float(os.environ.get("JOBS_STALE_SECONDS", "300"))
        # Rate limits count per process in memory unless they share Redis.
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        # Redis down or stuck: count in this process's memory until it answers again (per
        # worker, as without REDIS_URL), so sign-in neither fails open (no limit) nor closed
        # (nobody signs in), and waits at most a second for it (tests/faults/test_redis.py).
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
        self.RATELIMIT_HEADERS_ENABLED = True
        self.RATELIMIT_ENABLED = True
        # Number of proxies in front of the app (nginx: 1); their X-Forwarded-* are trusted.
        self.TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0") or 0)
        self.HSTS = False
        self.PRODUCTION = False


class ProductionConfig(Config):
    """Secure cookies and HSTS; refuses to start with an unsafe setting (see check_production)."""

    def __init__(self) -> None:
        super().__init__()
        self.PRODUCTION = True
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "")
        self.DEBUG = os.environ.get("FLASK_DEBUG", "0") not in ("0", "", "false", "False")
        self.SESSION_COOKIE_SECURE = True
        self.REMEMBER_COOKIE_SECURE = True
        self.HSTS = True
        self.LOG_FORMAT = os.environ.get("LOG_FORMAT", "json").lower()
        self.WEB_CONCURRENCY = int(os.environ.get("WEB_CONCURRENCY", "1") or 1)


class UnsafeConfiguration(RuntimeError):
    """Production was asked to start with a setting that would be unsafe."""


def check_production(config, sqlite_journal_mode=None) -> list[str]:
    """Refuse what must never run in production; return warnings for what merely should not."""
    key = config.get("SECRET_KEY") or ""
    if len(key) < 32 or key in {"dev", "changeme", "secret"}:
        raise UnsafeConfiguration("SECRET_KEY must be set to a random value of 32+ characters.")
    if config.get("DEBUG"):
        raise UnsafeConfiguration("DEBUG must be off in production.")
    uri = config.get("SQLALCHEMY_DATABASE_URI", "")
    if uri.startswith("sqlite") and config.get("WEB_CONCURRENCY", 1) > 1:
        if sqlite_journal_mode is not None and sqlite_journal_mode() != "wal":
            raise UnsafeConfiguration("SQLite with several workers needs WAL journal mode.")
    warnings = []
    if config.get("RATELIMIT_STORAGE_URI", "").startswith("memory"):
        warnings.append(
            "No REDIS_URL: rate limits are kept in memory per worker and background jobs run in "
            "a thread of each web process. Set REDIS_URL to share the limits and queue the jobs "
            "for RQ workers (deploy/worker.sh)."
        )
    return warnings


def load_config() -> Config:
    """ProductionConfig when DATASET_EXPLORER_ENV=production, else the local defaults."""
    if os.environ.get("DATASET_EXPLORER_ENV", "").lower() == "production":
        return ProductionConfig()
    return Config()


class TestConfig(Config):
    """Tests bring their own database URL and a fixed key."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key-not-for-production"
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(database_url)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.RATELIMIT_STORAGE_URI = "memory://"  # each test starts with fresh counters
        # Nothing listens on the discard port: a test that forgets the fake Hub fails fast.
        self.HF_ENDPOINT = self.HF_DATASETS_SERVER = "http://127.0.0.1:9"
        self.HUB_ATTEMPTS = 1
        self.JOBS_ENGINE = "thread"  # whatever REDIS_URL a developer has set
        self.JOBS_AUTOSTART = False  # catalog tests only queue jobs; job tests run them
        self.HUB_CACHE_REDIS = False  # tests/hub/test_cache_redis.py turns it on
