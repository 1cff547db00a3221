"""Pick the history backend for a set of settings, so callers never construct one by hand."""

from __future__ import annotations

from oppscope.config import Settings
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.store import HistoryStore


def open_history_store(settings: Settings, read_only: bool = False) -> HistoryStore:
    """Open the configured history; the embedded DuckDB file is the only backend so far."""
    return DuckDBHistoryStore(settings.history_path, read_only=read_only)
