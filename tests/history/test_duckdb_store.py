from __future__ import annotations

import math
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from oppscope.config import Settings
from oppscope.history import duckdb_import, schema
from oppscope.history.duckdb_import import EMPTY_SNAPSHOT, MAX_ERRORS
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.export import write_rows
from oppscope.history.factory import open_history_reader, open_history_store
from oppscope.history.store import HistoryError, ImportFormat
from tests.history.conftest import BASE_CLOSE, make_row

FORMATS: list[tuple[ImportFormat, str]] = [("csv", "csv"), ("parquet", "parquet"), ("jsonl", "jsonl")]


def _write_csv(path: Path, header: list[str], lines: list[list[str]]) -> Path:
    """Hand-written CSV, for values no typed writer would produce."""
    text = "\n".join(",".join(_csv_cell(c) for c in line) for line in [header, *lines]) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _csv_cell(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _import_csv(store: DuckDBHistoryStore, tmp_path: Path, rows: list[list[str]], header: list[str]) -> Any:
    return store.import_file(_write_csv(tmp_path / "in.csv", header, rows))


# -- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "ext"), FORMATS)
def test_round_trip_each_format(store: DuckDBHistoryStore, tmp_path: Path, fmt: ImportFormat, ext: str) -> None:
    rows = [make_row(i) for i in range(5)]
    path = tmp_path / f"h.{ext}"
    write_rows(rows, path, fmt)

    report = store.import_file(path)

    assert report.format == fmt
    assert report.committed
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (5, 5, 0)
    assert report.errors == []
    assert store.row_count() == 5
    cols = store.fetch_columns(
        [
            "customer_name",
            "close_date",
            "monthly $ service1",
            "oppertunity-sub-region",
            "unified program mapping",
        ]
    )
    assert list(cols["customer_name"]) == [f"Customer {i}" for i in range(5)]
    assert cols["close_date"].tolist() == [BASE_CLOSE + i * 86_400 for i in range(5)]
    assert cols["monthly $ service1"].tolist() == [10.5 * (i + 1) for i in range(5)]
    assert set(cols["oppertunity-sub-region"]) == {"DACH"}
    assert set(cols["unified program mapping"]) == {"MAP"}


def test_full_schema_names_survive_export_and_import(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    row = {name: (1.0 if t == "DOUBLE" else f"v-{name}") for name, t in schema.COLUMNS}
    row["close_date"] = BASE_CLOSE
    row["planned_delivery_start_date"] = "2024-01-01"
    row["planned_delivery_end_date"] = "2024-06-30"
    write_rows([row], tmp_path / "all.csv", "csv")

    report = store.import_file(tmp_path / "all.csv")

    assert report.errors == []
    assert report.rows_imported == 1
    cols = store.fetch_columns()
    assert list(cols) == list(schema.COLUMN_NAMES)
    assert cols["upfront $ servicex"].tolist() == [1.0]
    assert cols["aws account id"].tolist() == ["v-aws account id"]
    # The original Presto-style query, quoted names and all, runs against the table.
    assert store.query('SELECT "monthly $ service9", "oppertunity-sub-region" FROM parquet') == [
        (1.0, "v-oppertunity-sub-region")
    ]


def test_fetch_columns_types_nulls_and_order(store: DuckDBHistoryStore) -> None:
    rows = [
        make_row(0, close_date=BASE_CLOSE + 50, opportunity_18_character_oppty_id="B"),
        make_row(1, close_date=BASE_CLOSE + 50, opportunity_18_character_oppty_id="A", industry=None),
        make_row(2, close_date=BASE_CLOSE, annual_run_rate_usd=None),
    ]
    store.insert_rows(rows)

    cols = store.fetch_columns(["customer_name", "close_date", "annual_run_rate_usd", "industry"])

    assert cols["close_date"].dtype == np.int64
    assert cols["annual_run_rate_usd"].dtype == np.float64
    assert cols["customer_name"].dtype == object
    assert not isinstance(cols["industry"], np.ma.MaskedArray)
    assert list(cols["customer_name"]) == ["Customer 2", "Customer 1", "Customer 0"]
    assert math.isnan(cols["annual_run_rate_usd"][0])
    assert cols["annual_run_rate_usd"][1:].tolist() == [2000.0, 1000.0]
    assert cols["industry"].tolist() == ["Retail", None, "Retail"]
    with pytest.raises(HistoryError) as err:
        store.fetch_columns(["nope"])
    assert err.value.code == "unknown_column"


# -- normalisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1700000000", 1_700_000_000),
        ("1700000000123", 1_700_000_000),
        ("1700000000123456", 1_700_000_000),
        ("1700000000123456789", 1_700_000_000),
        ("1700000000.0", 1_700_000_000),
        ("2023-11-14", 1_699_920_000),
        ("2023-11-14 22:13:20", 1_700_000_000),
        ("2023-11-14T22:13:20", 1_700_000_000),
        (" 631152000 ", 631_152_000),
    ],
)
def test_close_date_normalisation(store: DuckDBHistoryStore, tmp_path: Path, raw: str, expected: int) -> None:
    report = _import_csv(store, tmp_path, [["Acme", raw]], ["customer_name", "close_date"])

    assert report.errors == []
    assert store.fetch_columns(["close_date"])["close_date"].tolist() == [expected]


def test_money_and_planned_date_normalisation(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    header = [
        "customer_name",
        "close_date",
        "annual_run_rate_usd",
        "monthly $ service2",
        "planned_delivery_start_date",
    ]
    lines = [
        ["A", "1700000000", "1,234.5", "$1,234", "2024-02-03 10:11:12"],
        ["B", "1700000001", "", " 7 ", "2024-02-04T00:00:00Z"],
        ["C", "1700000002", "1e3", "0", ""],
    ]
    report = _import_csv(store, tmp_path, lines, header)

    assert report.errors == []
    cols = store.fetch_columns(["annual_run_rate_usd", "monthly $ service2", "planned_delivery_start_date"])
    arr = cols["annual_run_rate_usd"]
    assert arr[0] == 1234.5 and math.isnan(arr[1]) and arr[2] == 1000.0
    assert cols["monthly $ service2"].tolist() == [1234.0, 7.0, 0.0]
    assert cols["planned_delivery_start_date"].tolist() == ["2024-02-03", "2024-02-04", None]


def test_typed_parquet_columns(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    rows = [
        {
            "customer_name": "Typed",
            "close_date": datetime(2023, 11, 14, 22, 13, 20),
            "planned_delivery_start_date": date(2024, 1, 2),
            "planned_delivery_end_date": datetime(2024, 3, 4, 5, 6, 7),
            "annual_run_rate_usd": 12,
        }
    ]
    write_rows(rows, tmp_path / "typed.parquet", "parquet")
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / 'typed.parquet'}')").fetchall()
    assert {r[0]: r[1] for r in described}["close_date"] == "TIMESTAMP"

    report = store.import_file(tmp_path / "typed.parquet")

    assert report.errors == []
    cols = store.fetch_columns(
        ["close_date", "planned_delivery_start_date", "planned_delivery_end_date", "annual_run_rate_usd"]
    )
    assert cols["close_date"].tolist() == [1_700_000_000]
    assert cols["planned_delivery_start_date"].tolist() == ["2024-01-02"]
    assert cols["planned_delivery_end_date"].tolist() == ["2024-03-04"]
    assert cols["annual_run_rate_usd"].tolist() == [12.0]


def test_bigint_close_date_in_jsonl_with_explicit_format(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text('{"customer_name": "J", "close_date": 1700000000123}\n', encoding="utf-8")

    report = store.import_file(path, fmt="jsonl")

    assert report.rows_imported == 1
    assert store.fetch_columns(["close_date"])["close_date"].tolist() == [1_700_000_000]


# -- bad rows ------------------------------------------------------------------------------------------


BAD_HEADER = [
    "customer_name",
    "close_date",
    "annual_run_rate_usd",
    "planned_delivery_end_date",
    "description",
]
BAD_LINES = [
    ["Good 1", "1700000000", "5", "2024-01-01", "ok"],
    ["", "1700000000", "5", "", ""],  # 2: customer required
    ["Bad date", "yesterday", "5", "", ""],  # 3
    ["Old", "315532800", "5", "", ""],  # 4: 1980
    ["Money", "1700000000", "-3", "", ""],  # 5
    ["Money2", "1700000000", "abc", "", ""],  # 6
    ["Plan", "1700000000", "1", "2024-13-40", ""],  # 7
    ["Long", "1700000000", "1", "", "x" * 20_001],  # 8
    ["Good 2", "1700000000", "nan", "", ""],  # 9: NaN is not a finite number
    ["Good 3", "1700000001", "", "", ""],
    ["Under", "1700000000", "1_000", "", ""],  # 11: DuckDB's cast would accept it
]


def test_skip_mode_reports_row_column_reason(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    report = store.import_file(_write_csv(tmp_path / "bad.csv", BAD_HEADER, BAD_LINES), on_error="skip")

    assert report.committed
    assert (report.rows_read, report.rows_imported, report.rows_rejected) == (11, 2, 9)
    found = [(e.row, e.column, e.reason) for e in report.errors]
    assert found == [
        (2, "customer_name", "required"),
        (3, "close_date", "not a Unix time or YYYY-MM-DD date"),
        (4, "close_date", "outside 1990-2100"),
        (5, "annual_run_rate_usd", "negative amount"),
        (6, "annual_run_rate_usd", "not a number"),
        (7, "planned_delivery_end_date", "not a YYYY-MM-DD date"),
        (8, "description", "longer than 20000 characters"),
        (9, "annual_run_rate_usd", "not a finite number"),
        (11, "annual_run_rate_usd", "not a number"),
    ]
    values = {e.row: e.value for e in report.errors}
    assert values[3] == "yesterday"
    assert values[5] == "-3"
    assert values[8] is not None and len(values[8]) == 200
    assert sorted(store.fetch_columns(["customer_name"])["customer_name"]) == ["Good 1", "Good 3"]


def test_one_row_can_carry_several_errors(store: DuckDBHistoryStore) -> None:
    report = store.insert_rows([make_row(0, customer_name=" ", close_date="soon", annual_run_rate_usd=-1)])

    assert not report.committed
    assert [(e.row, e.column) for e in report.errors] == [
        (1, "customer_name"),
        (1, "annual_run_rate_usd"),
        (1, "close_date"),
    ]
    assert report.rows_rejected == 1
    assert store.row_count() == 0


def test_reject_mode_imports_nothing_and_keeps_previous(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    store.insert_rows([make_row(i) for i in range(3)])
    before = store.snapshot_id()

    path = _write_csv(tmp_path / "bad.csv", BAD_HEADER, BAD_LINES)
    report = store.import_file(path, replace=True, on_error="reject")

    assert not report.committed
    assert report.rows_imported == 0
    assert report.rows_rejected == report.rows_read == 11
    assert len(report.errors) == 9
    assert store.row_count() == 3
    assert store.snapshot_id() == before == report.snapshot_id


def test_reject_mode_imports_clean_file(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    write_rows([make_row(i) for i in range(4)], tmp_path / "ok.parquet", "parquet")

    report = store.import_file(tmp_path / "ok.parquet", on_error="reject")

    assert report.committed and report.rows_imported == 4


def test_errors_are_capped(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    lines = [["C", "bad"] for _ in range(MAX_ERRORS + 5)]
    report = _import_csv(store, tmp_path, lines, ["customer_name", "close_date"])

    assert len(report.errors) == MAX_ERRORS
    assert report.errors_truncated
    assert report.rows_rejected == MAX_ERRORS + 5
    assert report.errors[-1].row == MAX_ERRORS


def test_unknown_columns_are_warned_once_and_ignored(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    lines = [["A", "1700000000", "x", "y"], ["B", "1700000000", "x", "y"]]
    report = _import_csv(store, tmp_path, lines, ["customer_name", "close_date", "colour", "Extra Col"])

    assert report.errors == []
    assert [(e.row, e.column) for e in report.warnings] == [(0, "colour"), (0, "Extra Col")]
    assert all("unknown column" in e.reason for e in report.warnings)
    assert report.rows_imported == 2 and report.rows_rejected == 0


def test_header_case_and_spaces_are_matched(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    report = _import_csv(
        store, tmp_path, [["A", "1700000000", "3"]], ["Customer_Name", "CLOSE_DATE", "Monthly $ Service3"]
    )

    assert report.errors == []
    assert store.fetch_columns(["monthly $ service3"])["monthly $ service3"].tolist() == [3.0]


def test_missing_required_columns(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "m.csv", ["customer_name", "industry"], [["A", "Retail"]])

    with pytest.raises(HistoryError) as err:
        store.import_file(path)

    assert err.value.code == "missing_columns"
    assert err.value.details["missing"] == ["close_date"]
    assert store.row_count() == 0


@pytest.mark.parametrize(
    ("name", "code"),
    [("nothing.csv", "file_not_found"), ("data.xlsx", "unknown_format"), ("e.parquet", "unreadable_file")],
)
def test_file_problems_raise(store: DuckDBHistoryStore, tmp_path: Path, name: str, code: str) -> None:
    if name != "nothing.csv":
        (tmp_path / name).write_bytes(b"not a parquet file")
    with pytest.raises(HistoryError) as err:
        store.import_file(tmp_path / name)
    assert err.value.code == code


# -- replace, atomicity, snapshots ---------------------------------------------------------------------


def test_append_and_replace(store: DuckDBHistoryStore, tmp_path: Path) -> None:
    store.insert_rows([make_row(i) for i in range(3)])
    store.insert_rows([make_row(i) for i in range(3, 5)])
    assert store.row_count() == 5

    write_rows([make_row(9, customer_name="Only")], tmp_path / "r.jsonl", "jsonl")
    report = store.import_file(tmp_path / "r.jsonl", replace=True)

    assert report.replaced
    assert store.fetch_columns(["customer_name"])["customer_name"].tolist() == ["Only"]


def test_failure_after_delete_leaves_previous_rows(
    store: DuckDBHistoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.insert_rows([make_row(i) for i in range(3)])
    before = store.snapshot_id()
    write_rows([make_row(7)], tmp_path / "n.csv", "csv")
    real_commit = duckdb_import.commit_checked

    def explode(con: Any, **kwargs: Any) -> None:
        real_commit(con, **kwargs)  # the old rows are deleted in the new snapshot's file, then it fails
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(duckdb_import, "commit_checked", explode)
    with pytest.raises(RuntimeError):
        store.import_file(tmp_path / "n.csv", replace=True)

    assert store.row_count() == 3
    assert store.snapshot_id() == before
    assert not list(store.path.parent.glob("*.snapshots/.build-*"))
    monkeypatch.undo()
    assert store.import_file(tmp_path / "n.csv").rows_imported == 1
    assert store.row_count() == 4


def test_a_killed_import_leaves_the_previous_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    with DuckDBHistoryStore(db) as s:
        s.insert_rows([make_row(i) for i in range(2)])
    write_rows([make_row(5)], tmp_path / "n.csv", "csv")
    # A process that dies mid-import, after writing the new rows and before switching to them.
    code = (
        "import os\n"
        "from oppscope.history import duckdb_import\n"
        "from oppscope.history.duckdb_store import DuckDBHistoryWriter\n"
        "real = duckdb_import.commit_checked\n"
        "def die(con, **kw):\n"
        "    real(con, **kw)\n"
        "    os._exit(9)\n"
        "duckdb_import.commit_checked = die\n"
        f"DuckDBHistoryWriter({str(db)!r}).import_file({str(tmp_path / 'n.csv')!r}, replace=True)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 9
    assert list(db.parent.glob("*.snapshots/.build-*"))  # the half-built file is left behind ...
    with DuckDBHistoryStore(db, read_only=True) as s:
        assert s.row_count() == 2
    with DuckDBHistoryStore(db) as s:
        s.insert_rows([make_row(3)])
        assert s.row_count() == 3
    assert not list(db.parent.glob("*.snapshots/.build-*"))  # ... and pruned by the next import


def test_snapshot_ids(tmp_path: Path) -> None:
    write_rows([make_row(i) for i in range(3)], tmp_path / "a.csv", "csv")
    write_rows([make_row(i) for i in range(3, 6)], tmp_path / "b.csv", "csv")

    def run(db: Path) -> list[str]:
        with DuckDBHistoryStore(db) as s:
            ids = [s.snapshot_id()]
            ids.append(s.import_file(tmp_path / "a.csv").snapshot_id)
            ids.append(s.import_file(tmp_path / "b.csv").snapshot_id)
            ids.append(s.import_file(tmp_path / "a.csv", replace=True).snapshot_id)
            assert s.snapshot_id() == ids[-1]
            return ids

    first = run(tmp_path / "one.duckdb")
    second = run(tmp_path / "two.duckdb")

    assert first[0] == EMPTY_SNAPSHOT
    # The id is a function of the content: replacing with a.csv again gives a.csv's snapshot back.
    assert len(set(first)) == 3 and first[3] == first[1]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in first[1:])
    assert first == second
    with DuckDBHistoryStore(tmp_path / "one.duckdb", read_only=True) as s:
        assert s.snapshot_id() == first[-1]


def test_snapshot_unchanged_when_nothing_imported_and_empty_after_empty_replace(
    store: DuckDBHistoryStore, tmp_path: Path
) -> None:
    store.insert_rows([make_row(0)])
    before = store.snapshot_id()

    report = store.insert_rows([make_row(1, customer_name="")], on_error="skip")
    assert not report.committed and report.rows_imported == 0
    assert store.snapshot_id() == before

    _write_csv(tmp_path / "empty.csv", ["customer_name", "close_date"], [])
    report = store.import_file(tmp_path / "empty.csv", replace=True)
    assert report.rows_read == 0 and not report.committed and "no data rows" in report.message
    assert store.row_count() == 1 and store.snapshot_id() == before


# -- insert_rows, query, stats, modes ------------------------------------------------------------------


def test_insert_rows_validates_like_files(store: DuckDBHistoryStore) -> None:
    rows = [make_row(0), {"customer_name": "Sparse", "close_date": BASE_CLOSE}, make_row(2, close_date=5)]

    report = store.insert_rows(rows, on_error="skip")

    assert report.format == "rows"
    assert (report.rows_imported, report.rows_rejected) == (2, 1)
    assert [(e.row, e.column, e.value) for e in report.errors] == [(3, "close_date", "5")]
    sparse = store.query("SELECT industry, annual_run_rate_usd FROM parquet WHERE customer_name = ?", ["Sparse"])
    assert sparse == [(None, None)]


def test_query_cannot_write(store: DuckDBHistoryStore) -> None:
    store.insert_rows([make_row(i) for i in range(2)])

    with pytest.raises(HistoryError) as err:
        store.query('DELETE FROM "parquet"')
    assert err.value.code == "query_failed"

    assert store.row_count() == 2
    with pytest.raises(HistoryError) as err:
        store.query("SELECT nope FROM parquet")
    assert err.value.code == "query_failed"


def test_stats_on_hand_made_table(store: DuckDBHistoryStore) -> None:
    rows = [
        make_row(
            0,
            customer_name="A",
            annual_run_rate_usd=100.0,
            customer_segment="SMB",
            country="DE",
            project_type="Migration",
            service2="Amazon S3",
        ),
        make_row(
            1,
            customer_name="A",
            annual_run_rate_usd=300.0,
            customer_segment="SMB",
            country="FR",
            project_type="Migration",
            service1="Amazon S3",
            service2="Amazon RDS",
        ),
        make_row(
            2,
            customer_name="B",
            annual_run_rate_usd=None,
            customer_segment="ENT",
            country="DE",
            project_type="Modernisation",
            industry="Finance",
        ),
        make_row(
            3,
            customer_name="C",
            annual_run_rate_usd=1000.0,
            customer_segment=None,
            country="DE",
            project_type="Migration",
            close_date="2021-03-04",
        ),
    ]
    store.insert_rows(rows)

    st = store.stats()

    assert st.rows == 4
    assert st.customers == 3
    assert st.multi_project_customers == 1
    assert (st.close_date_min, st.close_date_max) == ("2021-03-04", "2023-11-16")
    assert (st.arr_usd.min, st.arr_usd.median, st.arr_usd.max) == (100.0, 300.0, 1000.0)
    assert st.segments == {"SMB": 2, "(unknown)": 1, "ENT": 1}
    assert st.industries == {"Retail": 3, "Finance": 1}
    assert st.countries == {"DE": 3, "FR": 1}
    assert st.project_types == {"Migration": 3, "Modernisation": 1}
    assert st.top_services == {"Amazon EC2": 3, "Amazon S3": 2, "Amazon RDS": 1}
    assert st.snapshot_id == store.snapshot_id()


def test_empty_stats(store: DuckDBHistoryStore) -> None:
    st = store.stats()
    assert st.rows == 0 and st.close_date_min is None and st.arr_usd.median is None
    assert st.snapshot_id == EMPTY_SNAPSHOT and st.top_services == {}


def test_read_only_mode(tmp_path: Path) -> None:
    with pytest.raises(HistoryError) as err:
        DuckDBHistoryStore(tmp_path / "absent.duckdb", read_only=True)
    assert err.value.code == "history_missing"

    with DuckDBHistoryStore(tmp_path / "h.duckdb") as s:
        s.insert_rows([make_row(0)])
    with DuckDBHistoryStore(tmp_path / "h.duckdb", read_only=True) as s:
        assert s.row_count() == 1
        with pytest.raises(HistoryError) as err:
            s.insert_rows([make_row(1)])
        assert err.value.code == "read_only"


def test_factory_uses_settings_path(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with open_history_store(settings) as store:
        assert store.row_count() == 0
        assert not settings.history_path.exists()  # reading an empty history creates nothing
        store.insert_rows([make_row(0)])
    assert settings.history_path.is_symlink()
    with open_history_reader(settings) as reader:
        assert reader.row_count() == 1
