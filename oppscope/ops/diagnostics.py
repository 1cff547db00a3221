"""The one computation behind ``/ops``, ``alerts check``, ``diagnose``, ``logs errors``, ``queries slow``,
``cache stats`` and ``metrics resources``.

Numbers about traffic (rates, error rates, percentiles, cache, resources) come from the internal time series;
what went wrong and what was slow (error groups, slow requests with their stage times) from the JSON log. Both
are read over the same window, so every interface tells the same story with the same numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil

from oppscope.config import Settings
from oppscope.ops.alerts import AlertState, alert_rules, evaluate
from oppscope.ops.logging import iter_log_records
from oppscope.ops.timeseries import TimeSeries, WindowStats, open_timeseries

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``2d``: what the seed's commands and the /ops windows are written in."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (write e.g. 30s, 15m, 1h or 2d)")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


def window_start(minutes: int, now: datetime) -> datetime:
    """Where the time series' window of ``minutes`` ending ``now`` starts: whole minutes, ``now``'s included."""
    current = now.astimezone(UTC).replace(second=0, microsecond=0)
    return current - timedelta(minutes=minutes - 1)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A moment: a duration back from now (``1h``, rounded to the time series' minutes so the log and the series
    cover the same window) or an ISO 8601 time (naive means UTC)."""
    now = now or datetime.now(UTC)
    try:
        return window_start(window_minutes(text), now)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a duration or an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def window_minutes(text: str) -> int:
    """A window as whole minutes of the time series (at least one)."""
    return max(1, round(parse_duration(text).total_seconds() / 60))


# --- from the time series -----------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary(stats: WindowStats) -> dict[str, Any]:
    """A window's traffic figures, as every interface shows them."""
    return {
        "start": _iso(stats.start),
        "end": _iso(stats.end),
        "minutes": stats.minutes,
        "requests": stats.requests,
        "rate_per_minute": round(stats.rate_per_minute, 3),
        "errors_4xx": stats.errors_4xx,
        "errors_5xx": stats.errors_5xx,
        "error_rate": stats.error_rate,
        "client_error_rate": stats.client_error_rate,
        "availability": stats.availability,
        "latency_s": {"p50": stats.p50_s, "p95": stats.p95_s, "p99": stats.p99_s},
        "stage_p95_s": stats.stage_p95_s,
        "backend_errors": stats.backend_errors,
        "backends_down": stats.backends_down,
    }


def cache_stats(settings: Settings, stats: WindowStats) -> dict[str, Any]:
    """Look-ups of the analysis cache over the window (every worker's, from the time series)."""
    return {
        "enabled": settings.analysis_cache_enabled,
        "hits": stats.cache_hits,
        "misses": stats.cache_misses,
        "hit_rate": stats.cache_hit_rate,
    }


def alert_states(settings: Settings, series: TimeSeries, now: datetime) -> list[AlertState]:
    """Every rule over its own window ending ``now``."""
    return evaluate(alert_rules(settings), lambda minutes: series.window(minutes, now))


# --- from the log ---------------------------------------------------------------------------------------------


def _requests(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("event") == "request" and isinstance(r.get("status"), int)]


@dataclass
class ErrorGroup:
    code: str
    count: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    first_seen: str = ""
    latest: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "count": self.count,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "first_seen": self.first_seen,
            "latest": self.latest,
        }


def error_groups(records: Iterable[Mapping[str, Any]]) -> list[ErrorGroup]:
    """Failed requests grouped by their error code (``http_<status>`` when the answer carried none), the largest
    group first, each with its latest example."""
    groups: dict[str, ErrorGroup] = {}
    for record in _requests(records):
        status = int(record["status"])
        if status < 400:
            continue
        code = str(record.get("error_code") or f"http_{status}")
        group = groups.setdefault(code, ErrorGroup(code, first_seen=str(record.get("timestamp", ""))))
        group.count += 1
        group.statuses[status] = group.statuses.get(status, 0) + 1
        group.latest = {
            "timestamp": record.get("timestamp"),
            "method": record.get("method"),
            "route": record.get("route"),
            "status": status,
            "request_id": record.get("request_id"),
            "duration_ms": record.get("duration_ms"),
        }
    return sorted(groups.values(), key=lambda g: (-g.count, g.code))


def slow_requests(records: Iterable[Mapping[str, Any]], threshold_s: float, limit: int) -> dict[str, Any]:
    """Requests that took at least ``threshold_s``, slowest first, with the stage times of their analysis."""
    listed = list(records)
    stages = {
        r["request_id"]: r
        for r in listed
        if r.get("event") == "analysis" and r.get("request_id") and isinstance(r.get("stages_ms"), dict)
    }
    requests = _requests(listed)
    slow = sorted(
        (r for r in requests if float(r.get("duration_ms") or 0) >= threshold_s * 1000),
        key=lambda r: -float(r.get("duration_ms") or 0),
    )
    items = []
    for record in slow[:limit]:
        analysis = stages.get(record.get("request_id"))
        items.append(
            {
                "timestamp": record.get("timestamp"),
                "method": record.get("method"),
                "route": record.get("route"),
                "status": record.get("status"),
                "duration_ms": record.get("duration_ms"),
                "request_id": record.get("request_id"),
                "stages_ms": analysis.get("stages_ms") if analysis else None,
                "cache": analysis.get("cache") if analysis else None,
            }
        )
    return {"threshold_s": threshold_s, "requests": len(requests), "slow": len(slow), "items": items}


# --- resources ------------------------------------------------------------------------------------------------


def _process(pid: int) -> dict[str, Any] | None:
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            return {
                "pid": pid,
                "name": process.name(),
                "cpu_percent": round(process.cpu_percent(interval=0.1) / (psutil.cpu_count() or 1), 2),
                "memory_percent": round(process.memory_percent(), 2),
                "rss_bytes": process.memory_info().rss,
                "threads": process.num_threads(),
            }
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def window_max(stats: WindowStats) -> dict[str, float | None]:
    return {
        "cpu_percent": stats.cpu_percent,
        "memory_percent": stats.memory_percent,
        "disk_percent": stats.disk_percent,
    }


def resources(settings: Settings, stats: WindowStats, pids: Iterable[int]) -> dict[str, Any]:
    """The machine now, the window's highest readings, and each server process seen in the log (if alive)."""
    disk = psutil.disk_usage(str(settings.data_dir if settings.data_dir.exists() else "."))
    memory = psutil.virtual_memory()
    processes = [p for pid in sorted(set(pids)) if (p := _process(pid)) is not None]
    return {
        "now": {
            "cpu_percent": psutil.cpu_percent(interval=0.2),
            "memory_percent": memory.percent,
            "disk_percent": disk.percent,
            "cpus": psutil.cpu_count(),
            "memory_total_bytes": memory.total,
            "disk_free_bytes": disk.free,
        },
        "window_max": window_max(stats),
        "processes": processes,
    }


# --- the report -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpsReport:
    """One window of everything, read once; each interface renders the part it needs."""

    settings: Settings
    stats: WindowStats
    alerts: list[AlertState]
    records: list[dict[str, Any]]
    now: datetime

    @property
    def errors(self) -> list[ErrorGroup]:
        return error_groups(self.records)

    def slow(self, threshold_s: float | None = None, limit: int = 20) -> dict[str, Any]:
        return slow_requests(self.records, self.settings.slow_request_s if threshold_s is None else threshold_s, limit)

    @property
    def pids(self) -> set[int]:
        return {int(r["pid"]) for r in _requests(self.records) if isinstance(r.get("pid"), int)}

    def as_dict(self) -> dict[str, Any]:
        """What ``/ops/data`` and ``diagnose --json`` share."""
        firing = [s for s in self.alerts if s.firing]
        return {
            "generated_at": _iso(self.now),
            "window": summary(self.stats),
            "errors": [g.as_dict() for g in self.errors],
            "cache": cache_stats(self.settings, self.stats),
            "resources": {"window_max": window_max(self.stats)},
            "alerts": [s.as_dict() for s in self.alerts],
            "alerts_firing": [s.rule.name for s in firing],
            "last_backup": None,
        }


def ops_report(
    settings: Settings, minutes: int, now: datetime | None = None, series: TimeSeries | None = None
) -> OpsReport:
    """The window of ``minutes`` ending now: the time series' figures, the log's records, the alerts."""
    now = now or datetime.now(UTC)
    series = series or open_timeseries(settings)
    stats = series.window(minutes, now)
    records = [r for r in iter_log_records(settings, stats.start) if _before(r, stats.end)]
    return OpsReport(settings, stats, alert_states(settings, series, now), records, now)


def _before(record: Mapping[str, Any], end: datetime) -> bool:
    stamp = record.get("timestamp")
    if not isinstance(stamp, str):
        return False
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) < end
