"""What every ``HistoryReader`` does, whatever stores the rows (the warehouse ``verifyClass`` style: the
protocol's methods are checked to exist on each backend, then each behaviour runs on each backend)."""

from __future__ import annotations

import numpy as np
import pytest

from oppscope.history import schema
from oppscope.history.interfaces import READER_ERROR_CODES, HistoryReader
from oppscope.history.sql import ID_COLUMN, ROW_COLUMNS, rows_by_id_sql
from oppscope.history.store import HistoryError
from tests.contract import verify_class
from tests.history.conftest import Backend, make_row

ROWS = [
    make_row(0, industry="Retail", customer_segment="SMB", country="Germany"),
    make_row(1, industry="Retail", customer_segment="Enterprise", country="France"),
    make_row(2, industry="Healthcare", customer_segment="Enterprise", country="Germany", customer_name="Customer 0"),
]


@pytest.fixture
def loaded(backend: Backend) -> Backend:
    assert backend.writer.insert_rows(ROWS).committed
    return backend


def test_the_backend_implements_every_method_of_the_protocol(loaded: Backend) -> None:
    with loaded.open_reader() as reader:
        verify_class(HistoryReader, type(reader))


def test_an_empty_history_is_missing(backend: Backend) -> None:
    with pytest.raises(HistoryError) as err:
        backend.open_reader()
    assert err.value.code == "history_missing"
    assert err.value.code in READER_ERROR_CODES


def test_counts_and_snapshot(loaded: Backend) -> None:
    with loaded.open_reader() as reader:
        assert reader.row_count() == 3
        snapshot = reader.snapshot_id()
        assert len(snapshot) == 16 and snapshot == loaded.writer.snapshots()[-1]
        assert reader.stats().snapshot_id == snapshot


def test_stats(loaded: Backend) -> None:
    with loaded.open_reader() as reader:
        stats = reader.stats()
    assert (stats.rows, stats.customers, stats.multi_project_customers) == (3, 2, 1)
    assert stats.industries == {"Retail": 2, "Healthcare": 1}
    assert stats.arr_usd.median == 2000.0
    assert stats.top_services == {"Amazon EC2": 3}


def test_vocabulary_is_most_frequent_first(loaded: Backend) -> None:
    with loaded.open_reader() as reader:
        vocabulary = reader.vocabulary()
    assert vocabulary["industries"] == ["Retail", "Healthcare"]
    assert vocabulary["customer_segments"] == ["Enterprise", "SMB"]
    assert vocabulary["countries"] == ["Germany", "France"]
    assert set(vocabulary) == {
        "industries",
        "customer_segments",
        "countries",
        "regions",
        "partners",
        "activities",
        "migration_phases",
    }


def test_rows_by_id_are_the_rows_its_sql_returns(loaded: Backend) -> None:
    ids = ["OPP00002", "nope", "OPP00000", "OPP00002"]
    with loaded.open_reader() as reader:
        rows = reader.rows_by_id(ids, 10)
        by_sql = reader.query(rows_by_id_sql(ids, 10))
        assert reader.rows_by_id(ids, 1) == rows[:1]
        assert reader.rows_by_id([], 10) == []
    assert [r[ID_COLUMN] for r in rows] == ["OPP00002", "OPP00000"]
    assert [tuple(r[c] for c in ROW_COLUMNS) for r in rows] == by_sql
    assert rows[0]["industry"] == "Healthcare" and rows[0]["monthly $ service1"] == 31.5


def test_fetch_columns_types_and_order(loaded: Backend) -> None:
    with loaded.open_reader() as reader:
        cols = reader.fetch_columns(["close_date", "annual_run_rate_usd", "customer_name", "partner_name"])
        assert set(reader.fetch_columns()) == set(schema.COLUMN_NAMES)
        with pytest.raises(HistoryError) as err:
            reader.fetch_columns(["no such column"])
    assert err.value.code == "unknown_column"
    assert cols["close_date"].dtype == np.int64 and list(np.diff(cols["close_date"]) > 0) == [True, True]
    assert cols["annual_run_rate_usd"].dtype == np.float64
    assert cols["customer_name"].tolist() == ["Customer 0", "Customer 1", "Customer 0"]
    assert cols["partner_name"].tolist() == [None, None, None]


def test_query_is_read_only(loaded: Backend) -> None:
    with loaded.open_reader() as reader:
        assert reader.query("SELECT count(*) FROM parquet") == [(3,)]
        with pytest.raises(HistoryError) as err:
            reader.query('DELETE FROM "parquet"')
        assert err.value.code == "query_failed"
        assert reader.row_count() == 3


def test_a_reader_keeps_its_snapshot_while_the_history_changes(loaded: Backend) -> None:
    with loaded.open_reader() as before:
        snapshot = before.snapshot_id()
        assert loaded.writer.insert_rows([make_row(9)]).committed
        assert (before.snapshot_id(), before.row_count(), len(before.fetch_columns(["close_date"])["close_date"])) == (
            snapshot,
            3,
            3,
        )
        with loaded.open_reader() as after:
            assert after.row_count() == 4 and after.snapshot_id() != snapshot
