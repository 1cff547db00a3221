"""DuckDB lets one process write or several read: a short conflict is waited out, a long one is named."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from oppscope.history.duckdb_store import LOCK_WAIT_SECONDS, DuckDBHistoryStore
from oppscope.history.store import HistoryError


def hold_in_another_process(path: Path, seconds: float, *, read_only: bool) -> subprocess.Popen[bytes]:
    """Another process holding the file, as a running import (writer) or a server's check (reader) would."""
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
    DuckDBHistoryStore(path).close()
    return path


def test_a_writer_waits_out_a_short_read(history_file: Path) -> None:
    holder = hold_in_another_process(history_file, 0.5, read_only=True)
    try:
        with DuckDBHistoryStore(history_file) as store:
            assert store.row_count() == 0
    finally:
        holder.wait(timeout=30)


def test_a_long_import_is_named_not_reported_as_a_broken_file(history_file: Path) -> None:
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
