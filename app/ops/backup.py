"""Back up a live SQLite database with SQLite's online backup API (no Flask here).

Copying the file (`cp`) of a database in WAL mode while the app writes can give a torn copy;
the backup API copies one consistent snapshot (a read transaction: writers go on meanwhile).
The copy is written beside the target, checked with `PRAGMA integrity_check`, and renamed
into place, so a failed backup never leaves a half-written file under the target's name.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class BackupError(RuntimeError):
    """The backup could not be made; the message says why, in words."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int


def backup_target(path: Path, source: Path) -> Path:
    """A folder gets a new file named after the source and the time (UTC); a file is kept."""
    if path.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return path / f"{source.stem}-{stamp}.db"
    return path


def backup_sqlite(source: Path, target: Path, overwrite: bool = False) -> BackupResult:
    """Copy the SQLite database at `source` to `target` as one consistent snapshot."""
    if not source.is_file():
        raise BackupError(f"There is no database at {source}.")
    target = backup_target(target, source)
    if target.resolve() == source.resolve():
        raise BackupError("The backup cannot replace the database itself.")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists already (--force replaces it).")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        # mode=ro: the backup never writes to the live database, whatever happens.
        live = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        copy = sqlite3.connect(partial)
        try:
            live.backup(copy)  # all pages in one step: one snapshot, however busy the app
            copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        finally:
            copy.close()
            live.close()
        if problems != ["ok"]:
            raise BackupError(f"The copy failed its integrity check: {'; '.join(problems[:5])}")
        with open(partial, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not make the backup: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size)
