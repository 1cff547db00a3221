"""What every ``HistoryWriter`` does: a write switches to a complete new snapshot or changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from oppscope.history.export import write_rows
from oppscope.history.interfaces import HistoryWriter
from oppscope.history.store import HistoryError
from tests.contract import verify_class
from tests.history.conftest import Backend, make_row


def _state(backend: Backend) -> tuple[str, int]:
    with backend.open_reader() as reader:
        return reader.snapshot_id(), reader.row_count()


def test_the_backend_implements_every_method_of_the_protocol(backend: Backend) -> None:
    verify_class(HistoryWriter, type(backend.writer))


def test_a_file_with_a_bad_row_is_refused_and_changes_nothing(backend: Backend, tmp_path: Path) -> None:
    backend.writer.insert_rows([make_row(i) for i in range(5)])
    before = _state(backend)
    rows = [make_row(100 + i) for i in range(200)]
    rows[136] = make_row(236, annual_run_rate_usd="lots")
    write_rows(rows, tmp_path / "bad.csv", "csv")

    report = backend.writer.import_file(tmp_path / "bad.csv", replace=True)

    assert not report.committed and report.rows_imported == 0
    assert [(e.row, e.column, e.value) for e in report.errors] == [(137, "annual_run_rate_usd", "lots")]
    assert report.snapshot_id == before[0]
    assert _state(backend) == before


def test_skip_bad_rows_loads_the_good_ones(backend: Backend, tmp_path: Path) -> None:
    rows = [make_row(i) for i in range(10)]
    rows[3] = make_row(3, close_date="someday")
    write_rows(rows, tmp_path / "some.csv", "csv")

    report = backend.writer.import_file(tmp_path / "some.csv", on_error="skip")

    assert report.committed and (report.rows_imported, report.rows_rejected) == (9, 1)
    assert [(e.row, e.column) for e in report.errors] == [(4, "close_date")]
    assert _state(backend) == (report.snapshot_id, 9)


@pytest.mark.parametrize("on_error", ["reject", "skip"])
def test_an_import_that_commits_no_row_changes_nothing(backend: Backend, tmp_path: Path, on_error: str) -> None:
    backend.writer.insert_rows([make_row(i) for i in range(3)])
    before = _state(backend)
    (tmp_path / "header.csv").write_text("customer_name,close_date\n")
    write_rows([make_row(i, close_date="never") for i in range(4)], tmp_path / "bad.parquet", "parquet")

    for name in ("header.csv", "bad.parquet"):
        report = backend.writer.import_file(tmp_path / name, replace=True, on_error=on_error)  # type: ignore[arg-type]
        assert not report.committed and report.rows_imported == 0, name
        assert report.message and "unchanged" in report.message
        assert _state(backend) == before


def test_the_snapshot_id_is_a_function_of_the_content(backend: Backend, tmp_path: Path) -> None:
    write_rows([make_row(i) for i in range(4)], tmp_path / "a.parquet", "parquet")
    write_rows([make_row(i) for i in range(4)], tmp_path / "a.csv", "csv")
    first = backend.writer.import_file(tmp_path / "a.parquet", replace=True).snapshot_id
    again = backend.writer.import_file(tmp_path / "a.parquet", replace=True).snapshot_id
    as_csv = backend.writer.import_file(tmp_path / "a.csv", replace=True).snapshot_id
    assert first == again == as_csv == _state(backend)[0]


def test_appending_gives_the_id_of_the_same_rows_imported_at_once(backend: Backend, tmp_path: Path) -> None:
    write_rows([make_row(i) for i in range(6)], tmp_path / "all.parquet", "parquet")
    backend.writer.insert_rows([make_row(i) for i in range(4)])
    backend.writer.insert_rows([make_row(4), make_row(3, customer_name="Changed")], dedupe=True)
    appended = backend.writer.insert_rows([make_row(5), make_row(3)], dedupe=True).snapshot_id
    assert backend.writer.import_file(tmp_path / "all.parquet", replace=True).snapshot_id == appended


def test_duplicate_ids_are_refused_within_a_file_and_against_the_history(backend: Backend) -> None:
    report = backend.writer.insert_rows([make_row(0), make_row(1), make_row(0, customer_name="Again")])
    assert not report.committed
    assert [(e.row, e.column, e.reason) for e in report.errors] == [
        (3, "opportunity_18_character_oppty_id", "duplicate opportunity id (first at row 1)")
    ]
    assert backend.writer.insert_rows([make_row(0), make_row(1)]).committed
    again = backend.writer.insert_rows([make_row(1), make_row(2)])
    assert not again.committed
    assert [(e.row, e.reason) for e in again.errors] == [(1, "opportunity id already in the history")]
    assert _state(backend)[1] == 2


def test_dedupe_keeps_the_last_row_per_id(backend: Backend) -> None:
    backend.writer.insert_rows([make_row(0), make_row(1)])
    report = backend.writer.insert_rows(
        [make_row(1, customer_name="Newer"), make_row(2), make_row(2, customer_name="Latest")], dedupe=True
    )
    assert report.committed and report.rows_deduplicated == 2
    with backend.open_reader() as reader:
        names = sorted(r["customer_name"] for r in reader.rows_by_id(["OPP00000", "OPP00001", "OPP00002"], 10))
    assert names == ["Customer 0", "Latest", "Newer"]


def test_implausible_values_are_imported_with_a_warning(backend: Backend) -> None:
    report = backend.writer.insert_rows(
        [make_row(0, close_date="2090-01-01"), make_row(1, customer_name="12345"), make_row(2)]
    )
    assert report.committed and report.rows_imported == 3
    assert [(w.row, w.column) for w in report.warnings] == [(1, "close_date"), (2, "customer_name")]
    assert "years ahead" in report.warnings[0].reason


def test_rollback_returns_to_the_previous_snapshot(backend: Backend) -> None:
    with pytest.raises(HistoryError) as err:
        backend.writer.rollback()
    assert err.value.code == "no_previous_snapshot"
    first = backend.writer.insert_rows([make_row(0)]).snapshot_id
    second = backend.writer.insert_rows([make_row(1)], replace=True).snapshot_id
    assert backend.writer.snapshots() == [first, second]
    assert backend.writer.rollback() == first
    assert _state(backend) == (first, 1)
    assert backend.writer.snapshots() == [first]
