"""Histories that hold less than the full schema: the engine says what it cannot estimate, never invents it."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import history_from_columns
from oppscope.analysis.engine import Engine, EngineConfig
from oppscope.history.store import HistoryError

OPPORTUNITY = Opportunity(
    customer_name="C3", region="Germany", close_date=date(2026, 1, 1), opportunity_name="x", description="y"
)


def _columns(rows: int, stated_arr: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    cols = {
        "customer_name": np.array([f"C{i % 50}" for i in range(rows)], dtype=object),
        "close_date": np.sort(rng.integers(1_500_000_000, 1_700_000_000, rows)).astype(np.int64),
    }
    if stated_arr:
        cols["annual_run_rate_usd"] = np.exp(rng.normal(12, 1, rows))
    return cols


@pytest.mark.parametrize("rows", [5, 60, 400])
def test_only_stated_arr_still_gives_arr_and_says_what_is_missing(rows: int) -> None:
    analysis = Engine.fit(history_from_columns(_columns(rows)), "s", EngineConfig()).analyze(OPPORTUNITY)
    p = analysis.predictions
    assert p.arr.low <= p.arr.value <= p.arr.high
    assert p.time_to_launch_months is None and p.project_duration_months is None and p.launch_date is None
    assert any("planned delivery start dates" in w for w in analysis.warnings)
    assert analysis.sections.summary_metrics["LAUNCH_DATE"] == "unknown"
    # Outcomes that are pure noise: no level above MEDIUM, however the relative score falls.
    assert analysis.confidence.level != "HIGH"


def test_a_history_without_any_outcome_is_refused() -> None:
    with pytest.raises(HistoryError) as err:
        Engine.fit(history_from_columns(_columns(100, stated_arr=False)), "s", EngineConfig())
    assert err.value.code == "history_without_outcomes"
