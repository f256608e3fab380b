"""Each worker's search index, read as the worker starts and kept current in the background.

A catalog write bumps the catalog version (app.catalog.store.bump_catalog_version). The first
search in a worker that finds the version newer than its copy brings the copy up to date before
it answers: at 100,000 datasets a patch costs 20-30 ms, and a whole read (a new worker) seconds.
This thread takes both off the searches' path:

- as the worker starts, it reads the index and works out its sort orders and exact names
  (catalog_index.CatalogIndex.prepare), which the first searches would otherwise wait for;
- on PostgreSQL the version bump also sends NOTIFY on CATALOG_CHANNEL, delivered when the write
  commits, in any process. The thread listens on a connection of its own and patches the copy
  as soon as it hears, so the next search finds it current. A search that comes during the patch
  waits for it, as before (catalog_index.for_version's lock). It also checks the version after
  every QUIET_CHECK seconds of silence: a write made without the app (no NOTIFY) is caught then.
- a lost connection is logged and reopened after a growing pause; searches patch for themselves
  meanwhile, so nothing is ever stale for it.

SQLite has no notifications. The embedded default is one process, so there the thread is woken
by the commit of a catalog write in its own process (a session event), and checks the version
after QUIET_CHECK seconds of silence for writes by other processes (`flask catalog sync`).
"""

from __future__ import annotations

import logging
import threading
import weakref

import psycopg
from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.catalog import catalog_index
from app.catalog.store import CATALOG_BUMPED, CATALOG_CHANNEL, catalog_version
from app.extensions import db

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (1, 2, 5, 10, 30)  # seconds, then 30 until it connects
QUIET_CHECK = 30.0  # seconds without a notification before the version is checked anyway
APPLICATION_NAME = "dataset-explorer index upkeep"  # in pg_stat_activity


class IndexUpkeep(threading.Thread):
    def __init__(self, app: Flask) -> None:
        super().__init__(name="search-index-upkeep", daemon=True)
        self.app = app
        self.listening = threading.Event()  # set while a LISTEN connection is open
        self.woken = threading.Event()  # a catalog write committed in this process
        self._stopping = threading.Event()
        self._failures = 0  # connection attempts failed in a row
        _upkeeps.add(self)

    def run(self) -> None:
        self.bring_up_to_date()
        with self.app.app_context():
            url = db.engine.url
        if url.get_backend_name() != "postgresql":
            self._wait_for_writes_here()
            return
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                self._listen(conninfo)
            except psycopg.Error as error:
                delay = RECONNECT_DELAYS[min(self._failures, len(RECONNECT_DELAYS) - 1)]
                self._failures += 1
                log.warning(
                    "search index upkeep: no notifications (%s); searches patch the index "
                    "themselves; trying again in %d s",
                    str(error).strip() or type(error).__name__,
                    delay,
                )
                self._stopping.wait(delay)

    def _wait_for_writes_here(self) -> None:
        while not self._stopping.is_set():
            self.woken.wait(QUIET_CHECK)
            self.woken.clear()
            if not self._stopping.is_set():
                self.bring_up_to_date()

    def _listen(self, conninfo: str) -> None:
        with psycopg.connect(
            conninfo, autocommit=True, connect_timeout=5, application_name=APPLICATION_NAME
        ) as connection:
            connection.execute(f"LISTEN {CATALOG_CHANNEL}")
            self.listening.set()
            self._failures = 0  # connected: the next loss waits the shortest pause again
            try:
                self.bring_up_to_date()  # whatever was written while nobody listened
                quiet = 0.0
                while not self._stopping.is_set():
                    heard = any(True for _ in connection.notifies(timeout=1.0, stop_after=1))
                    quiet = 0.0 if heard else quiet + 1.0
                    if heard or quiet >= QUIET_CHECK:
                        quiet = 0.0
                        connection.execute("SELECT 1")  # a dead connection raises here
                        self.bring_up_to_date()
            finally:
                self.listening.clear()

    def bring_up_to_date(self) -> None:
        """The kept copy brought to the stored version (one query when it already is)."""
        with self.app.app_context():
            try:
                catalog_index.for_version(
                    db.session, db.engine.url.render_as_string(), catalog_version(db.session)
                ).prepare()
            # Either way the next search reads or patches the index itself.
            except DBAPIError as error:  # the database away: said without a traceback
                log.warning(
                    "search index upkeep: could not bring the index up to date (%s)",
                    str(error.orig).strip() or type(error.orig).__name__,
                )
            except Exception:
                log.exception("search index upkeep: could not bring the index up to date")
            finally:
                db.session.remove()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.woken.set()
        self.join(timeout)


_upkeeps: weakref.WeakSet[IndexUpkeep] = weakref.WeakSet()


@event.listens_for(Session, "after_commit")
def _wake_after_a_catalog_write(session: Session) -> None:
    if session.info.pop(CATALOG_BUMPED, False):
        for upkeep in list(_upkeeps):
            upkeep.woken.set()


@event.listens_for(Session, "after_rollback")
def _forget_a_rolled_back_write(session: Session) -> None:
    session.info.pop(CATALOG_BUMPED, None)


def keep_index_current(app: Flask) -> IndexUpkeep:
    """Start the worker's upkeep thread (gunicorn.conf.py's post_worker_init)."""
    upkeep = IndexUpkeep(app)
    upkeep.start()
    return upkeep
