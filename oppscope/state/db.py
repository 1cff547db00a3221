"""Opening the state database with the settings that make a committed write durable.

SQLite runs in WAL mode with ``synchronous`` from the settings (FULL by default: a commit is on disk before
the API answers, so ``kill -9`` or a power cut cannot lose an analysis the caller saw saved) and a busy
timeout, so concurrent workers wait for the write lock instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

from oppscope.config import Settings, secret_value
from oppscope.durable import enable_wal
from oppscope.errors import ErrorKind, OppscopeError


class StateUnavailableError(OppscopeError):
    """The database failed under a statement (disk full, file gone, locked past the timeout): nothing was saved
    and the caller may retry. The server is not broken, a backend is unavailable."""

    default_kind = ErrorKind.unavailable

    def __init__(self, exc: DBAPIError) -> None:
        super().__init__(
            "state_unavailable",
            "the state database is not available; nothing was saved",
            {"type": type(exc.orig).__name__},
            retry_after=5,
        )


@contextmanager
def state_engine(settings: Settings) -> Iterator[Engine]:
    """An engine for a command's lifetime, its connections closed afterwards."""
    engine = open_state(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def state_url(settings: Settings) -> str:
    return secret_value(settings.state_url) or f"sqlite:///{settings.state_path}"


def open_state(settings: Settings) -> Engine:
    url = state_url(settings)
    if url.startswith("sqlite"):
        settings.state_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    if engine.dialect.name == "sqlite":
        synchronous = settings.sqlite_synchronous

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            enable_wal(dbapi_connection)
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def iso_utc(moment: datetime) -> str:
    """The timestamp format of every state column: sortable text, UTC, microseconds (naive means UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))
