"""Pick the history backend for a set of settings, so callers never construct one by hand.

The embedded DuckDB snapshots are the only backend so far; another (Athena) adds a branch here and runs the
contract suites in ``tests/history/``.
"""

from __future__ import annotations

from oppscope.config import Settings
from oppscope.history.duckdb_store import DuckDBHistoryReader, DuckDBHistoryStore, DuckDBHistoryWriter
from oppscope.history.interfaces import HistoryReader, HistoryStore, HistoryWriter


def open_history_reader(settings: Settings) -> HistoryReader:
    """The current snapshot, read-only; open one per operation (it keeps its snapshot while open)."""
    return DuckDBHistoryReader(settings.history_path)


def open_history_writer(settings: Settings) -> HistoryWriter:
    return DuckDBHistoryWriter(settings.history_path)


def open_history_store(settings: Settings, read_only: bool = False) -> HistoryStore:
    """Reader and writer in one, for glue that imports and then reads its own result; ``read_only`` refuses
    writes and needs an existing history."""
    return DuckDBHistoryStore(settings.history_path, read_only=read_only)
