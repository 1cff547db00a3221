"""The DuckDB backend's snapshot files: plain messages for broken files, old data dirs migrated, old
snapshots pruned."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from oppscope.history import schema
from oppscope.history.duckdb_store import DuckDBHistoryReader, DuckDBHistoryStore, DuckDBHistoryWriter, SnapshotFiles
from oppscope.history.store import HistoryError
from tests.history.conftest import make_row


def test_a_ragged_csv_names_its_bad_rows_not_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        "customer_name,close_date,industry\nA,1700000000,Retail\nB,1700000001\nC,1700000002,Retail,extra\n"
        "D,1700000003,Retail\n"
    )
    writer = DuckDBHistoryWriter(tmp_path / "history.duckdb")

    refused = writer.import_file(path)
    skipped = writer.import_file(path, on_error="skip")

    assert not refused.committed
    assert [(e.row, e.reason) for e in refused.errors] == [
        (2, "wrong number of fields: expected 3, found 2"),
        (3, "wrong number of fields: expected 3, found 4"),
    ]
    assert refused.errors[0].value == "B,1700000001"
    assert (skipped.rows_read, skipped.rows_imported, skipped.rows_rejected) == (4, 2, 2)
    with DuckDBHistoryReader(tmp_path / "history.duckdb") as reader:
        assert reader.fetch_columns(["customer_name"])["customer_name"].tolist() == ["A", "D"]


def test_a_truncated_csv_reports_its_last_row(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text("customer_name,close_date,industry\nA,1700000000,Retail\nB,17000")
    report = DuckDBHistoryWriter(tmp_path / "history.duckdb").import_file(path)
    assert [(e.row, e.reason) for e in report.errors] == [(2, "wrong number of fields: expected 3, found 2")]


def test_a_broken_json_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"customer_name": "A", "close_date": 1700000000}\n'
        '{"customer_name": "B", "close_date": 1700000001\n'
        '{"customer_name": "C", "close_date": 1700000002}\n'
    )
    with pytest.raises(HistoryError) as err:
        DuckDBHistoryWriter(tmp_path / "history.duckdb").import_file(path)
    assert err.value.code == "unreadable_file"
    assert "line 2" in err.value.message and "Expecting ',' delimiter" in err.value.message
    assert "CREATE" not in err.value.message and "_oppscope" not in err.value.message
    assert err.value.details["lines"] == [{"line": 2, "reason": "Expecting ',' delimiter"}]


def test_a_legacy_history_file_is_migrated_on_the_first_import(tmp_path: Path) -> None:
    """A data dir from before snapshots: one plain history.duckdb, written straight by the old store."""
    legacy = tmp_path / "history.duckdb"
    with duckdb.connect(str(legacy)) as con:
        con.execute(schema.create_table_sql())
        con.execute("CREATE TABLE _oppscope_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO _oppscope_meta VALUES ('snapshot_id', 'legacy0123456789')")
        con.execute("INSERT INTO parquet (customer_name, close_date) VALUES ('Old', 1700000000)")
    with DuckDBHistoryReader(legacy) as reader:
        assert (reader.snapshot_id(), reader.row_count()) == ("legacy0123456789", 1)

    with DuckDBHistoryStore(legacy) as store:
        report = store.insert_rows([make_row(1)])
        assert report.committed and store.row_count() == 2

    assert legacy.is_symlink()
    assert DuckDBHistoryWriter(legacy).snapshots() == ["legacy0123456789", report.snapshot_id]
    assert DuckDBHistoryWriter(legacy).rollback() == "legacy0123456789"
    with DuckDBHistoryReader(legacy) as reader:
        assert reader.row_count() == 1


def test_only_the_last_snapshots_are_kept(tmp_path: Path) -> None:
    writer = DuckDBHistoryWriter(tmp_path / "history.duckdb", keep=3)
    ids = [writer.insert_rows([make_row(i)]).snapshot_id for i in range(5)]
    files = SnapshotFiles(tmp_path / "history.duckdb")
    assert writer.snapshots() == ids[-3:]
    assert sorted(p.stem for p in files.dir.glob("*.duckdb")) == sorted(ids[-3:])


def test_a_damaged_snapshot_is_unavailable_not_busy(tmp_path: Path) -> None:
    writer = DuckDBHistoryWriter(tmp_path / "history.duckdb")
    snapshot = writer.insert_rows([make_row(0)]).snapshot_id
    SnapshotFiles(tmp_path / "history.duckdb").file_for(snapshot).write_bytes(b"not a database" * 1000)
    with pytest.raises(HistoryError) as err:
        DuckDBHistoryReader(tmp_path / "history.duckdb")
    assert err.value.code == "history_unavailable"
    assert "_oppscope" not in err.value.message


def test_a_lost_log_never_costs_the_current_snapshot(tmp_path: Path) -> None:
    writer = DuckDBHistoryWriter(tmp_path / "history.duckdb")
    writer.insert_rows([make_row(0)])
    files = SnapshotFiles(tmp_path / "history.duckdb")
    (files.dir / "snapshots.json").unlink()
    files.prune()
    with DuckDBHistoryReader(tmp_path / "history.duckdb") as reader:
        assert reader.row_count() == 1
