"""Small builders for history rows, so each test states only the columns it is about."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oppscope.history.duckdb_store import DuckDBHistoryStore

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
