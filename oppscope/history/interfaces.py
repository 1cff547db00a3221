"""The two sides of a history backend: a reader for everything that analyses or reports, a writer for imports.

The engine never talks SQL to a backend: it asks for the columns it needs as NumPy arrays, once per
snapshot, and works in memory. ``snapshot_id`` changes whenever the table's content changes (it is derived
from the content), so anything built from the history (fitted models, caches, provenance) can be keyed by it.

Readers and writers are separate so that a backend without an embedded database (Athena) can serve reads
alone, and so that nothing above this package needs to know how a backend stores rows or reports trouble:
every failure is a ``HistoryError`` whose code is one of ``READER_ERROR_CODES`` or the writer's codes.
Each protocol has a contract suite in ``tests/history/`` that every backend runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, Self

import numpy as np

from oppscope.history.store import HistoryStats, ImportFormat, ImportReport, OnError

# Another process holds the history for a moment (an external tool with the file open for writing): retry soon.
HISTORY_BUSY: Final = "history_locked"
# The backend cannot be reached or read at all.
HISTORY_UNAVAILABLE: Final = "history_unavailable"
# No history has been loaded yet.
HISTORY_MISSING: Final = "history_missing"
READER_ERROR_CODES: Final = frozenset(
    {HISTORY_BUSY, HISTORY_UNAVAILABLE, HISTORY_MISSING, "unknown_column", "query_failed"}
)


class HistoryReader(Protocol):
    """One consistent view of the history: every call on one reader sees the same snapshot."""

    def snapshot_id(self) -> str: ...

    def row_count(self) -> int: ...

    def stats(self) -> HistoryStats: ...

    def vocabulary(self) -> dict[str, list[str]]:
        """Distinct values of the form's fields (``industries``, ``customer_segments``, ``countries``,
        ``regions``, ``partners``, ``activities``, ``migration_phases``), most frequent first."""
        ...

    def rows_by_id(self, ids: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """The rows whose opportunity id is in ``ids``, in the order of ``ids``, at most ``limit``, with the
        columns of ``sql.ROW_COLUMNS``: exactly what ``sql.rows_by_id_sql(ids, limit)`` returns."""
        ...

    def fetch_columns(self, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only statement over the table ``parquet`` in the backend's SQL dialect (the original
        system's relevance SQL is a backtest baseline; Athena runs the same Presto text)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class HistoryWriter(Protocol):
    """Imports. A write either switches the history to a complete new snapshot or changes nothing at all."""

    def import_file(
        self,
        path: Path,
        *,
        replace: bool = False,
        on_error: OnError = "reject",
        fmt: ImportFormat | None = None,
        dedupe: bool = False,
    ) -> ImportReport: ...

    def insert_rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        replace: bool = False,
        on_error: OnError = "reject",
        dedupe: bool = False,
    ) -> ImportReport: ...

    def snapshots(self) -> list[str]:
        """The snapshot ids kept for a rollback, oldest first; the last one is current."""
        ...

    def rollback(self) -> str:
        """Make the previous snapshot current again and return its id."""
        ...


class HistoryStore(HistoryReader, HistoryWriter, Protocol):
    """Both sides at once, for the command-line glue that imports and then reads what it imported."""
