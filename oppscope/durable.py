"""Writes that survive a crash: fsync of a path, "write a temp file, fsync, rename" itself, and SQLite's
write-ahead log switched on however many processes open a new database at once.

A rename is only durable once the directory holding it is synced too, and ``os.fsync`` needs a descriptor, so
files and directories are opened the same way. One helper, below every domain, so the history, the model cache,
the configuration and the backups cannot drift apart on how they make a write survive a crash.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


@retry(
    retry=retry_if_exception(_locked),
    stop=stop_after_delay(10),
    wait=wait_exponential(multiplier=0.01, max=0.5),
    reraise=True,
)
def enable_wal(connection: sqlite3.Connection) -> None:
    """Put the database in WAL mode (it stays so: the mode is kept in the file).

    Switching takes an exclusive lock, and while another process is creating the same file SQLite answers
    "database is locked" at once, without waiting out its busy timeout (two server workers starting together
    on a new data directory: one of them failed its start-up). So the switch is retried, and skipped when the
    file is already in WAL mode, as it is after the first time.
    """
    if str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        connection.execute("PRAGMA journal_mode=WAL")


def fsync_path(path: Path) -> None:
    """fsync of a file or a directory (a directory's entries: what a rename changed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Every file and directory under ``root`` (``root`` included) on disk before the rename that publishes it."""
    for path in [*sorted(root.rglob("*")), root]:
        fsync_path(path)


def write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so that a reader or a crash sees the old content or the new, never a mix.

    The temporary file is ``.<name>.<random>.tmp`` beside it (a leftover of a crash is recognisable by that
    shape), private (0600) unless ``mode`` says otherwise; the directory is synced after the rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
