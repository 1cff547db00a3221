"""``oppscope monitor errors``: the error rate and p95 over the alert window, read again and again.

Two sources give the same figures: the internal time series of the data directory (the default, on the
service's machine) or a service's ``/metrics`` scraped over HTTP, whose counters are differenced between the
scrapes inside the window. Histogram buckets are the time series' own, so p95 is computed the same way.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from oppscope.config import Settings
from oppscope.ops.alerts import DURATION_BUCKETS, REQUESTS
from oppscope.ops.timeseries import BUCKETS_S, bucket_index, open_timeseries, quantile


@dataclass(frozen=True)
class Sample:
    requests: int
    errors_5xx: int
    p95_s: float | None


class Reader(Protocol):
    source: str

    def sample(self, minutes: int) -> Sample: ...


class SeriesReader:
    source = "timeseries"

    def __init__(self, settings: Settings) -> None:
        self._series = open_timeseries(settings)

    def sample(self, minutes: int) -> Sample:
        stats = self._series.window(minutes)
        return Sample(stats.requests, stats.errors_5xx, stats.p95_s)


@dataclass(frozen=True)
class _Scrape:
    at: float
    requests: float
    errors_5xx: float
    buckets: dict[int, float]  # cumulative count per bucket index, summed over routes


def parse_scrape(text: str, at: float) -> _Scrape:
    requests = errors = 0.0
    cumulative: dict[int, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == REQUESTS:
                requests += sample.value
                if str(sample.labels.get("status", "")).startswith("5"):
                    errors += sample.value
            elif sample.name == DURATION_BUCKETS:
                edge = float(sample.labels["le"])
                index = len(BUCKETS_S) if math.isinf(edge) else bucket_index(edge)
                cumulative[index] = cumulative.get(index, 0.0) + sample.value
    return _Scrape(at, requests, errors, cumulative)


class MetricsReader:
    """Differences of ``/metrics`` counters between the oldest scrape inside the window and now."""

    source = "metrics"

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        self._scrapes: deque[_Scrape] = deque()

    def sample(self, minutes: int) -> Sample:
        response = self._client.get("/metrics")
        response.raise_for_status()
        now = parse_scrape(response.text, time.monotonic())
        self._scrapes.append(now)
        while self._scrapes[0].at < now.at - minutes * 60:
            self._scrapes.popleft()
        first = self._scrapes[0]
        per_bucket: dict[int, int] = {}
        below = 0.0
        for index in sorted(now.buckets):
            cumulative = now.buckets[index] - first.buckets.get(index, 0.0)
            per_bucket[index] = round(cumulative - below)
            below = cumulative
        return Sample(
            round(now.requests - first.requests), round(now.errors_5xx - first.errors_5xx), quantile(0.95, per_bucket)
        )


@dataclass(frozen=True)
class Reading:
    at: datetime
    source: str
    window_minutes: int
    requests: int
    error_rate: float | None
    p95_s: float | None
    crossed: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "source": self.source,
            "window_minutes": self.window_minutes,
            "requests": self.requests,
            "error_rate": self.error_rate,
            "p95_s": self.p95_s,
            "crossed": self.crossed,
        }

    def line(self) -> str:
        rate = "-" if self.error_rate is None else f"{self.error_rate:.2%}"
        p95 = "-" if self.p95_s is None else f"{self.p95_s:.3f} s"
        state = "CROSSED: " + "; ".join(self.crossed) if self.crossed else "ok"
        return (
            f"{self.at:%H:%M:%S}  last {self.window_minutes} min: {self.requests} requests, "
            f"error rate {rate}, p95 {p95}  {state}"
        )


class Monitor:
    """Compares each reading with the critical (or warning) thresholds over their alert window."""

    def __init__(self, settings: Settings, reader: Reader, *, critical: bool = True) -> None:
        self.reader = reader
        if critical:
            self.minutes = settings.alert_critical_window_minutes
            self.max_error_rate, self.max_p95_s = settings.alert_error_rate_critical, settings.alert_p95_critical_s
        else:
            self.minutes = settings.alert_warning_window_minutes
            self.max_error_rate, self.max_p95_s = settings.alert_error_rate_warning, settings.alert_p95_warning_s

    def read(self) -> Reading:
        sample = self.reader.sample(self.minutes)
        error_rate = sample.errors_5xx / sample.requests if sample.requests else None
        crossed = []
        if error_rate is not None and error_rate > self.max_error_rate:
            crossed.append(f"error rate {error_rate:.2%} > {self.max_error_rate:.0%}")
        if sample.p95_s is not None and sample.p95_s > self.max_p95_s:
            crossed.append(f"p95 {sample.p95_s:.3f} s > {self.max_p95_s:g} s")
        return Reading(
            datetime.now(UTC), self.reader.source, self.minutes, sample.requests, error_rate, sample.p95_s, crossed
        )
