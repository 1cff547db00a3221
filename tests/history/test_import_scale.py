"""100k-row imports: row numbers follow the file under DuckDB's parallel readers, and every row arrives.

Speed is measured by ``benchmarks/engine.py`` (import rows/s), not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.export import write_rows
from tests.history.conftest import BASE_CLOSE, make_row

N = 100_000
BAD_AT = (7_777, 73_123)  # 1-based data rows


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_100k_import_reports_file_rows(tmp_path: Path, fmt: str) -> None:
    rows = [make_row(i, close_date=BASE_CLOSE + i * 60, description="lorem ipsum " * 8) for i in range(N)]
    for r in BAD_AT:
        rows[r - 1] = make_row(r - 1, close_date="not-a-date")
    path = tmp_path / f"big.{fmt}"
    write_rows(rows, path, "csv" if fmt == "csv" else "parquet")

    with DuckDBHistoryStore(tmp_path / "h.duckdb") as store:
        report = store.import_file(path, on_error="skip")
        assert [(e.row, e.column) for e in report.errors] == [(r, "close_date") for r in BAD_AT]
        assert report.rows_imported == N - len(BAD_AT)
        assert store.row_count() == N - len(BAD_AT)


@pytest.mark.slow
def test_100k_insert_rows_keeps_every_row(tmp_path: Path) -> None:
    rows = [make_row(i, close_date=BASE_CLOSE + i * 60) for i in range(N)]
    with DuckDBHistoryStore(tmp_path / "h.duckdb") as store:
        report = store.insert_rows(rows)
        assert report.rows_imported == N
        assert store.row_count() == N
