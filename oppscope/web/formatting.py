"""Display formats the templates and chart data share (money comes from ``oppscope.analysis.narrative``)."""

from __future__ import annotations

from datetime import date, datetime


def month_name(year_month: str | None) -> str:
    """``2025-09`` (or a full ISO date) as "September 2025", the way the result states a launch."""
    if not year_month:
        return "unknown"
    return datetime.strptime(year_month[:7], "%Y-%m").strftime("%B %Y")


def long_date(value: str | date) -> str:
    day = value if isinstance(value, date) else date.fromisoformat(value[:10])
    return f"{day.day} {day:%B %Y}"


def timestamp(value: str) -> str:
    """A stored ISO 8601 UTC time, to the minute."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")


def percent(share: float) -> str:
    return f"{share:.0%}"
