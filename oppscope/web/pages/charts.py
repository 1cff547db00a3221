"""The data behind the result page's two charts, computed here so the browser only draws.

The page embeds it as a JSON block (the Content-Security-Policy allows no inline script) and
``static/js/charts.js`` reads it. Every label arrives formatted by the report's own formatters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from oppscope.analysis.contracts import Analysis
from oppscope.analysis.narrative import money, money_range
from oppscope.history.schema import DAYS_PER_MONTH, add_months
from oppscope.web.formatting import month_name


@dataclass(frozen=True)
class Phase:
    label: str
    bar: tuple[float, float]  # expected start and end, in months after the close date
    range: tuple[float, float]  # the interval of the end


@dataclass(frozen=True)
class Timeline:
    """Close date to launch to the end of delivery, on an axis of months after the close date."""

    phases: list[Phase]
    ticks: list[dict[str, Any]]  # the first day of each month: {"value": months after close, "label": "Jun 2025"}
    horizon: float
    launch: float
    launch_text: str
    end: str | None  # ISO date the delivery is expected to end


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def timeline(analysis: Analysis) -> Timeline | None:
    """None when the history had no planned delivery dates to learn a time to launch from."""
    predictions = analysis.predictions
    ttl, duration = predictions.time_to_launch_months, predictions.project_duration_months
    if ttl is None:
        return None
    close = analysis.input.close_date
    phases = [Phase("Close → launch", (0.0, ttl.value), (ttl.low, ttl.high))]
    end = None
    if duration is not None:
        finish = ttl.value + duration.value
        phases.append(Phase("Delivery", (ttl.value, finish), (ttl.value + duration.low, ttl.value + duration.high)))
        end = add_months(close, finish).isoformat()
    horizon = max(p.range[1] for p in phases) * 1.05
    ticks = []
    month = _next_month(close)
    while month <= add_months(close, horizon):
        ticks.append({"value": round((month - close).days / DAYS_PER_MONTH, 3), "label": f"{month:%b %Y}"})
        month = _next_month(month)
    launch_text = f"Launch {month_name(predictions.launch_date)}"
    return Timeline(phases, ticks, round(horizon, 3), ttl.value, launch_text, end)


def chart_data(analysis: Analysis) -> dict[str, Any]:
    """Both charts' series: the analogs' ARR (largest first) against the predicted interval, and the timeline."""
    analogs = sorted(analysis.similar_projects, key=lambda p: p.arr_usd, reverse=True)
    arr = analysis.predictions.arr
    plan = timeline(analysis)
    return {
        "arr": {
            "labels": [p.customer_name for p in analogs],
            "titles": [p.opportunity_name for p in analogs],
            "values": [p.arr_usd for p in analogs],
            "adjusted": [p.adjusted_arr_usd for p in analogs],
            "value_text": [money(p.arr_usd) for p in analogs],
            "adjusted_text": [money(p.adjusted_arr_usd) for p in analogs],
            "band": {"low": arr.low, "high": arr.high, "value": arr.value},
            "band_text": f"Predicted {money(arr.value)} ({money_range(arr.low, arr.high)})",
            "band_short": f"Predicted {money(arr.value)}",
        },
        "timeline": None if plan is None else asdict(plan),
    }
