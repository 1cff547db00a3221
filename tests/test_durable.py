"""SQLite files opened by several processes at once, as server workers starting together open them."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from oppscope.config import load_settings
from oppscope.ops.timeseries import open_timeseries

PROCESSES = 4
ROUNDS = 20  # before enable_wal, about one round in four lost a process to "database is locked"


def _open_at_once(data_dir: Path, start: Barrier, errors: Queue[str]) -> None:
    start.wait()
    try:
        open_timeseries(load_settings(data_dir=data_dir))
    except Exception as exc:  # reported to the test, which names it
        errors.put(repr(exc))


def test_processes_opening_a_new_time_series_together_all_open_it(tmp_path: Path) -> None:
    """Two server workers on a new data directory: one of them failed its start-up ("database is locked")."""
    context = multiprocessing.get_context("fork")
    errors: Queue[str] = context.Queue()
    for round_ in range(ROUNDS):
        start = context.Barrier(PROCESSES)
        workers = [
            context.Process(target=_open_at_once, args=(tmp_path / str(round_), start, errors))
            for _ in range(PROCESSES)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        assert [w.exitcode for w in workers] == [0] * PROCESSES
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures
