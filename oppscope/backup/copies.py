"""Consistent copies of the two databases, and what a copy holds.

The state database is copied with SQLite's online backup API in one step: one read transaction, so the copy is
a committed state even while the service writes (WAL readers never block writers; the busy timeout covers a
checkpoint in progress). The history is copied by DuckDB itself (``COPY FROM DATABASE``) from the current
snapshot opened read-only: a running server only ever opens snapshots read-only, and several read-only opens
coexist, so a backup never waits for the service nor blocks it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from oppscope.backup.manifest import BackupError
from oppscope.history.duckdb_store import DuckDBHistoryReader, SnapshotFiles

BUSY_TIMEOUT_MS: Final = 30_000
STATE_TABLES: Final = ("analyses", "api_tokens")


@dataclass(frozen=True)
class StateFacts:
    revision: str | None
    counts: dict[str, int]
    newest_analysis_at: str | None


@dataclass(frozen=True)
class HistoryFacts:
    snapshot_id: str
    rows: int


def _connect_state(path: Path, *, read_only: bool) -> sqlite3.Connection:
    # ``immutable`` for files nobody writes (a backup): SQLite then creates no -wal/-shm beside them.
    uri = f"file:{path}?mode=ro&immutable=1" if read_only else f"file:{path}"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return connection


def backup_state(source: Path, target: Path) -> StateFacts:
    """A consistent single-file copy of the live state database at ``target``, and what it holds."""
    if not source.is_file():
        raise BackupError(
            "state_missing",
            f"there is no state database at {source}: nothing to back up (run `oppscope db upgrade` first)",
            {"path": str(source)},
        )
    src = _connect_state(source, read_only=False)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # pages=-1: the whole database in one step, under one read transaction
        dst.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file, no WAL beside it
        dst.commit()
    except sqlite3.Error as exc:
        raise BackupError(
            "state_backup_failed", f"cannot copy the state database: {exc}", {"path": str(source)}
        ) from exc
    finally:
        dst.close()
        src.close()
    return state_facts(target)


def state_facts(path: Path) -> StateFacts:
    """Integrity, schema revision and row counts of a state database file that nobody writes."""
    try:
        connection = _connect_state(path, read_only=True)
        try:
            (result,) = connection.execute("PRAGMA integrity_check").fetchone() or ("no answer",)
            if result != "ok":
                raise BackupError(
                    "state_corrupted", f"{path.name} fails SQLite's integrity check: {result}", {"path": str(path)}
                )
            tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            revision = None
            if "alembic_version" in tables:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = None if row is None else str(row[0])
            counts = {
                t: int(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in STATE_TABLES
                if t in tables
            }
            newest = None
            if "analyses" in tables:
                newest = connection.execute("SELECT max(created_at) FROM analyses").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            "state_corrupted", f"{path.name} is not a readable SQLite database: {exc}", {"path": str(path)}
        ) from exc
    return StateFacts(revision, counts, None if newest is None else str(newest))


def newest_analysis(path: Path) -> str | None:
    """When the newest analysis of a live state database was saved (a read transaction; None when empty)."""
    if not path.is_file():
        return None
    connection = _connect_state(path, read_only=False)
    try:
        row = connection.execute("SELECT max(created_at) FROM analyses").fetchone()
    except sqlite3.Error:
        return None  # not migrated yet: nothing the replica could lag behind
    finally:
        connection.close()
    return None if row is None or row[0] is None else str(row[0])


def current_snapshot(history_link: Path) -> Path | None:
    return SnapshotFiles(history_link).current()


@retry(
    retry=retry_if_exception_type(duckdb.IOException),
    stop=stop_after_delay(10),
    wait=wait_exponential(multiplier=0.05, max=1),
    reraise=True,
)
def _copy_duckdb(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    connection = duckdb.connect(str(target))
    try:
        connection.execute(f"ATTACH '{_sql_path(source)}' AS src (READ_ONLY)")
        (name,) = connection.execute("SELECT current_database()").fetchone() or ("",)
        connection.execute(f'COPY FROM DATABASE src TO "{name}"')
        connection.execute("DETACH src")
        connection.execute("CHECKPOINT")
    finally:
        connection.close()


def backup_history(history_link: Path, target: Path) -> HistoryFacts | None:
    """DuckDB's own copy of the current history snapshot at ``target``; None when no history was ever loaded."""
    source = current_snapshot(history_link)
    if source is None:
        return None
    try:
        _copy_duckdb(source, target)
    except duckdb.Error as exc:
        raise BackupError(
            "history_backup_failed", f"cannot copy the history {source.name}: {exc}", {"path": str(source)}
        ) from exc
    return history_facts(target)


def history_facts(path: Path) -> HistoryFacts:
    """The snapshot id and row count of a history file, opened read-only the way the service reads it."""
    with DuckDBHistoryReader(path) as reader:
        return HistoryFacts(reader.snapshot_id(), reader.row_count())


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
