"""Readers and imports never wait for each other; only a foreign process writing a snapshot file is a lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from oppscope.history.duckdb_store import LOCK_WAIT_SECONDS, DuckDBHistoryStore
from oppscope.history.store import HistoryError
from tests.history.conftest import make_row


def hold_in_another_process(path: Path, seconds: float, *, read_only: bool) -> subprocess.Popen[bytes]:
    """Another process holding the file open: a reader (a server's check) or a foreign writing tool."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r}, read_only={read_only})\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    return holder


@pytest.fixture
def history_file(tmp_path: Path) -> Path:
    path = tmp_path / "history.duckdb"
    with DuckDBHistoryStore(path) as store:
        store.insert_rows([make_row(0)])
    return path


def test_an_import_does_not_wait_for_a_long_read(history_file: Path) -> None:
    holder = hold_in_another_process(history_file, 30, read_only=True)
    try:
        # A writer that needed the reader's file would give up after LOCK_WAIT_SECONDS with history_locked.
        with DuckDBHistoryStore(history_file) as store:
            assert store.insert_rows([make_row(1)]).committed
            assert store.row_count() == 2
        assert holder.poll() is None  # the reader still holds the previous snapshot, undisturbed
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_foreign_writer_is_named_not_reported_as_a_broken_file(history_file: Path) -> None:
    holder = hold_in_another_process(history_file, LOCK_WAIT_SECONDS + 3, read_only=False)
    try:
        started = time.monotonic()
        with pytest.raises(HistoryError) as caught:
            DuckDBHistoryStore(history_file, read_only=True)
        assert caught.value.code == "history_locked"
        assert "another process" in caught.value.message
        assert time.monotonic() - started >= LOCK_WAIT_SECONDS * 0.9
    finally:
        holder.wait(timeout=30)
