"""The engine on a history it was not designed around: other vocabulary, other effects, other wording.

The table is built here from a small, fully known model (every effect observable from the opportunity), so
the best achievable error is known exactly and the engine must come close to it, with honest intervals.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from oppscope.analysis.backtest import BacktestReport, Truth, backtest
from oppscope.analysis.dataset import history_from_columns
from oppscope.analysis.engine import EngineConfig
from oppscope.history.schema import COLUMN_NAMES, COLUMN_TYPES, DAYS_PER_MONTH
from tests.analysis.criteria import unexpected

ROWS = 4000
SEGMENTS = {"Large": 0.8, "Medium": 0.0, "Small": -0.8}
COUNTRIES = {"France": 0.1, "Japan": 0.25, "Brazil": -0.2, "Canada": 0.0}
TYPES = {"Lift": 0.0, "Rebuild": 0.5, "Insights": 0.3}
SEGMENT_DELAY = {"Large": 2.0, "Medium": 1.0, "Small": 0.0}
NOISE = 0.3
DURATION_MONTHS = 6.0


def _history(kind: str = "log-linear") -> tuple[dict[str, np.ndarray], Truth]:
    """``log-linear``: multiplicative effects. ``additive``: dollars per workload plus a base per type, scaled by
    segment, and launches pushed back for deals closing in the last quarter (budget cycles)."""
    rng = np.random.default_rng(5)
    industries = {f"Sector {c}": float(e) for c, e in zip("ABCDEF", rng.normal(0, 0.3, 6), strict=True)}
    pick = lambda d: rng.choice(list(d), ROWS)  # noqa: E731
    segment, country, ptype, industry = pick(SEGMENTS), pick(COUNTRIES), pick(TYPES), pick(industries)
    workloads = np.round(np.exp(rng.normal(3.0, 0.8, ROWS))).astype(int) + 1
    start = datetime(2019, 1, 1, tzinfo=UTC).timestamp()
    close = np.sort(rng.uniform(start, start + 6 * 365 * 86400, ROWS)).astype(np.int64)
    effect = lambda table, keys: np.array([table[k] for k in keys])  # noqa: E731
    log_arr = (
        11.5
        + effect(SEGMENTS, segment)
        + effect(COUNTRIES, country)
        + effect(TYPES, ptype)
        + effect(industries, industry)
        + 0.5 * np.log(workloads)
    )
    ttl_mu = 1.5 + effect(SEGMENT_DELAY, segment)
    if kind == "additive":
        base = np.array([{"Lift": 40e3, "Rebuild": 120e3, "Insights": 80e3}[t] for t in ptype])
        scale = np.array([{"Large": 1.5, "Medium": 1.0, "Small": 0.6}[s] for s in segment])
        log_arr = np.log((base + 2500 * workloads) * scale)
        last_quarter = np.array([datetime.fromtimestamp(t, tz=UTC).month >= 10 for t in close])
        ttl_mu = ttl_mu + 1.5 * last_quarter
    arr = np.exp(log_arr + rng.normal(0, NOISE, ROWS))
    ttl = np.maximum(ttl_mu + rng.normal(0, 0.5, ROWS), 0.1)

    cols: dict[str, np.ndarray] = {
        c: np.full(ROWS, np.nan) if COLUMN_TYPES[c] == "DOUBLE" else np.full(ROWS, None, dtype=object)
        for c in COLUMN_NAMES
    }
    ids = np.array([f"opp-{i:05d}" for i in range(ROWS)], dtype=object)
    days = lambda ts: np.array(  # noqa: E731
        [datetime.fromtimestamp(t, tz=UTC).date().isoformat() for t in ts], dtype=object
    )
    cols |= {
        "opportunity_18_character_oppty_id": ids,
        "customer_name": np.array([f"Client {i}" for i in range(ROWS)], dtype=object),
        "customer_segment": segment.astype(object),
        "country": country.astype(object),
        "industry": industry.astype(object),
        "project_type": ptype.astype(object),
        "opportunity_name": np.array([f"{t} programme" for t in ptype], dtype=object),
        "description": np.array([f"Programme covering {w} workloads." for w in workloads], dtype=object),
        "close_date": close,
        "planned_delivery_start_date": days(close + ttl * DAYS_PER_MONTH * 86400),
        "planned_delivery_end_date": days(close + (ttl + DURATION_MONTHS) * DAYS_PER_MONTH * 86400),
        "service1": np.full(ROWS, "Compute", dtype=object),
        "monthly $ service1": arr * 0.7 / 12,
        "service2": np.full(ROWS, "Storage", dtype=object),
        "monthly $ service2": arr * 0.3 / 12,
    }
    truth = Truth(
        log_arr=dict(zip(ids, log_arr, strict=True)),
        ttl=dict(zip(ids, ttl_mu, strict=True)),
        duration=dict.fromkeys(ids, DURATION_MONTHS),
    )
    return cols, truth


@pytest.fixture(scope="module", params=["log-linear", "additive"])
def report(request: pytest.FixtureRequest) -> BacktestReport:
    cols, truth = _history(request.param)
    return backtest(history_from_columns(cols), EngineConfig(), test_fraction=0.2, truth=truth)


def test_error_is_close_to_the_best_achievable(report: BacktestReport) -> None:
    ours, best = report.methods[0], report.best_achievable
    assert best is not None and best.ttl_mae_months is not None and ours.ttl_mae_months is not None
    assert ours.arr_mdape <= 1.12 * best.arr_mdape, (ours.arr_mdape, best.arr_mdape)
    assert ours.ttl_mae_months <= 1.12 * best.ttl_mae_months, (ours.ttl_mae_months, best.ttl_mae_months)


def test_intervals_are_calibrated_on_a_new_history(report: BacktestReport) -> None:
    ours = report.methods[0]
    assert ours.arr_interval_coverage is not None and 0.74 <= ours.arr_interval_coverage <= 0.86
    assert ours.ttl_interval_coverage is not None and 0.74 <= ours.ttl_interval_coverage <= 0.86


# Criteria not met yet (issue 7), listed so that the test fails on any other miss and when one of these is met.
KNOWN_GAPS: dict[str, dict[str, frozenset[str]]] = {
    # Dollars per workload with only the name's words: 34.4% against the reference's 33.6% (1.024x). The scope curve
    # follows the workload count; the rest is the type x workload interaction, which neither model fits, and noise.
    "additive": {"required": frozenset({"reference arr_mdape"})},
}


def test_every_input_pattern_meets_the_issue_criteria(request: pytest.FixtureRequest, report: BacktestReport) -> None:
    """Coverage 0.77-0.83, each level's 0.75-0.85, levels ordered by error, within 1.02x the reference."""
    kind = request.node.callspec.params["report"]
    assert not unexpected(report.patterns, KNOWN_GAPS.get(kind, {}))
