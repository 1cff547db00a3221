"""Small builders for history rows, so each test states only the columns it is about."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oppscope.config import load_settings
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.interfaces import HistoryReader, HistoryStore
from oppscope.wiring import HISTORY_BACKENDS, open_services

BASE_CLOSE = 1_700_000_000  # 2023-11-14T22:13:20Z


def make_row(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_name": f"Customer {i}",
        "close_date": BASE_CLOSE + i * 86_400,
        "opportunity_18_character_oppty_id": f"OPP{i:05d}",
        "annual_run_rate_usd": 1000.0 * (i + 1),
        "industry": "Retail",
        "service1": "Amazon EC2",
        "monthly $ service1": 10.5 * (i + 1),
        "upfront $ service1": 0.0,
        "oppertunity-sub-region": "DACH",
        "unified program mapping": "MAP",
    }
    row.update(overrides)
    return row


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBHistoryStore]:
    with DuckDBHistoryStore(tmp_path / "db" / "history.duckdb") as s:
        yield s


# Every history backend the wiring can build (``history_backend``), for the contract suites: a backend joins
# them by its entry in the wiring's table.


@dataclass(frozen=True)
class Backend:
    writer: HistoryStore
    open_reader: Callable[[], HistoryReader]


@pytest.fixture(params=HISTORY_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty history of one backend: its writer, and how to open a reader on the current snapshot."""
    settings = load_settings(data_dir=tmp_path / "data", history_backend=request.param)
    with open_services(settings) as services, services.history.writer() as writer:
        yield Backend(writer, services.history.reader)
