"""Every history backend the contract suites run against; another backend adds one entry here.

An entry makes a fresh, empty history in a temporary directory and returns a writer for it and a function
that opens a reader on its current snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oppscope.history.duckdb_store import DuckDBHistoryReader, DuckDBHistoryWriter
from oppscope.history.interfaces import HistoryReader, HistoryWriter


@dataclass(frozen=True)
class Backend:
    writer: HistoryWriter
    open_reader: Callable[[], HistoryReader]


def _duckdb(tmp: Path) -> Backend:
    path = tmp / "history.duckdb"
    return Backend(DuckDBHistoryWriter(path), lambda: DuckDBHistoryReader(path))


BACKENDS: dict[str, Callable[[Path], Backend]] = {"duckdb": _duckdb}
