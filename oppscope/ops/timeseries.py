"""A small per-minute time series shared by every worker process of one data directory.

The ``/ops`` page, ``alerts check``, ``diagnose`` and ``monitor`` need request rates, error rates and latency
percentiles over the last minutes to a day without a Prometheus server. Each process aggregates what it sees in
memory (counts and histogram buckets per minute, the same buckets as the Prometheus histogram) and adds it into
one SQLite file every few seconds; readers merge the buckets of a window, so percentiles over several workers
and minutes are exact to the bucket, like ``histogram_quantile``. Rows older than the retention are pruned.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import psutil
import structlog

from oppscope.config import Settings
from oppscope.durable import enable_wal

log = structlog.get_logger(__name__)

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)  # same as the Prometheus histogram
STAGES = ("resolve", "retrieve", "estimate", "narrative", "store")

_HTTP = "http"
_STAGE = "stage:"
_ROUTE = "route:"
_BACKEND_ERROR = "backend_error:"
_PRUNE_EVERY_S = 600.0
_N = TypeVar("_N", int, float)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (
    minute INTEGER NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (minute, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (
    minute INTEGER NOT NULL, series TEXT NOT NULL, bucket INTEGER NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (minute, series, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resources (
    minute INTEGER NOT NULL, pid INTEGER NOT NULL, cpu_sum REAL NOT NULL, memory_sum REAL NOT NULL,
    samples INTEGER NOT NULL, disk_max REAL, PRIMARY KEY (minute, pid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS backends (backend TEXT PRIMARY KEY, up INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS in_flight (
    minute INTEGER NOT NULL, pid INTEGER NOT NULL, peak INTEGER NOT NULL, PRIMARY KEY (minute, pid)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class MinutePoint:
    minute: datetime  # UTC, start of the minute
    requests: int
    errors_4xx: int
    errors_5xx: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    cache_hits: int
    cache_misses: int
    cpu_percent: float | None  # process group CPU (0-100 of the machine)
    memory_percent: float | None  # of the machine's memory
    disk_percent: float | None  # used, of the data dir's filesystem
    in_flight_peak: int | None  # most requests in flight at once, summed over the workers' peaks


@dataclass(frozen=True)
class ResourceSample:
    cpu_percent: float  # of the whole machine, since this process' previous sample
    memory_percent: float
    disk_percent: float


@dataclass(frozen=True)
class RouteStats:
    requests: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None


@dataclass(frozen=True)
class WindowStats:
    start: datetime
    end: datetime
    minutes: int
    requests: int
    errors_4xx: int
    errors_5xx: int
    rate_per_minute: float
    error_rate: float | None  # 5xx / requests (None when no requests)
    client_error_rate: float | None  # 4xx / requests
    availability: float | None  # 1 - error_rate
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None  # from merged histogram buckets
    stage_p95_s: dict[str, float]  # resolve, retrieve, estimate, narrative, store
    cache_hits: int
    cache_misses: int
    cache_hit_rate: float | None
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None  # max over the window
    in_flight_peak: int | None  # the highest minute's, over the window (the queue depth of capacity planning)
    backend_errors: dict[str, int]  # backend -> count in window
    backends_down: list[str]  # backends whose latest reported state is down
    points: list[MinutePoint]
    routes: dict[str, RouteStats]  # "METHOD /route/template" -> its requests and latency in the window


def bucket_index(seconds: float) -> int:
    """The histogram bucket an observation falls in: the first edge >= it, ``len(BUCKETS_S)`` for +Inf."""
    return bisect_left(BUCKETS_S, seconds)


def quantile(q: float, buckets: Mapping[int, int]) -> float | None:
    """``histogram_quantile`` over bucket counts: linear inside the bucket, the top finite edge for +Inf."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index in range(len(BUCKETS_S) + 1):
        count = buckets.get(index, 0)
        if count and seen + count >= rank:
            if index == len(BUCKETS_S):
                return float(BUCKETS_S[-1])
            lower = BUCKETS_S[index - 1] if index else 0.0
            upper = BUCKETS_S[index]
            return float(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return float(BUCKETS_S[-1])


class _Pending:
    """What one process saw since its last flush."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[int, str]] = Counter()
        self.buckets: Counter[tuple[int, str, int]] = Counter()
        self.resources: dict[tuple[int, int], list[float]] = {}  # (minute, pid) -> [cpu_sum, mem_sum, n, disk_max]
        self.backends: dict[str, tuple[bool, float]] = {}
        self.in_flight: dict[tuple[int, int], int] = {}  # (minute, pid) -> peak

    def empty(self) -> bool:
        return not (self.counts or self.buckets or self.resources or self.backends or self.in_flight)

    def merge(self, other: _Pending) -> None:
        self.counts.update(other.counts)
        self.buckets.update(other.buckets)
        for key, values in other.resources.items():
            self._add_resource(key, values)
        for backend, state in other.backends.items():
            if backend not in self.backends or self.backends[backend][1] <= state[1]:
                self.backends[backend] = state
        for key, peak in other.in_flight.items():
            self.add_in_flight(key, peak)

    def add_in_flight(self, key: tuple[int, int], count: int) -> None:
        self.in_flight[key] = max(self.in_flight.get(key, 0), count)

    def _add_resource(self, key: tuple[int, int], values: Sequence[float]) -> None:
        mine = self.resources.setdefault(key, [0.0, 0.0, 0.0, 0.0])
        mine[0] += values[0]
        mine[1] += values[1]
        mine[2] += values[2]
        mine[3] = max(mine[3], values[3])


def _minute(ts: float) -> int:
    return int(ts // 60)


def _utc(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


class TimeSeries:
    def __init__(self, path: Path, *, retention_hours: int, data_dir: Path) -> None:
        self.path = path
        self.retention_minutes = retention_hours * 60
        self._data_dir = data_dir
        self._pending = _Pending()
        self._lock = threading.Lock()
        self._pruned = 0.0
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first reading only starts the measurement
        self._cpus = psutil.cpu_count() or 1
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    # --- recording (any thread, any process) ----------------------------------------------------------------

    def record_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        minute, bucket = _minute(time.time()), bucket_index(duration_s)
        with self._lock:
            counts = self._pending.counts
            counts[minute, "requests"] += 1
            if 400 <= status < 500:
                counts[minute, "errors_4xx"] += 1
            elif status >= 500:
                counts[minute, "errors_5xx"] += 1
            self._pending.buckets[minute, _HTTP, bucket] += 1
            self._pending.buckets[minute, f"{_ROUTE}{method} {route}", bucket] += 1

    def record_stage(self, stage: str, duration_s: float) -> None:
        with self._lock:
            self._pending.buckets[_minute(time.time()), f"{_STAGE}{stage}", bucket_index(duration_s)] += 1

    def record_cache(self, hit: bool) -> None:
        with self._lock:
            self._pending.counts[_minute(time.time()), "cache_hit" if hit else "cache_miss"] += 1

    def record_backend(self, backend: str, up: bool, error: bool = False) -> None:
        now = time.time()
        with self._lock:
            self._pending.backends[backend] = (up, now)
            if error:
                self._pending.counts[_minute(now), f"{_BACKEND_ERROR}{backend}"] += 1

    def record_in_flight(self, count: int) -> None:
        """This process' requests in flight now; each minute keeps its peak."""
        with self._lock:
            self._pending.add_in_flight((_minute(time.time()), os.getpid()), count)

    def record_resources(self) -> ResourceSample:
        """Sample this process' CPU (since the previous sample, as a share of the whole machine), its memory and
        the data directory's disk, now."""
        sample = ResourceSample(
            cpu_percent=self._process.cpu_percent(None) / self._cpus,
            memory_percent=self._process.memory_percent(),
            disk_percent=psutil.disk_usage(str(self._data_dir)).percent,
        )
        with self._lock:
            self._pending._add_resource(
                (_minute(time.time()), os.getpid()),
                (sample.cpu_percent, sample.memory_percent, 1.0, sample.disk_percent),
            )
        return sample

    # --- storage --------------------------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as con:
            enable_wal(con)
            con.execute("PRAGMA synchronous=NORMAL")  # losing the last seconds of telemetry on power loss is fine
            yield con

    def flush(self) -> None:
        """Add what this process saw into the shared file; kept for the next flush if the file is busy."""
        with self._lock:
            pending, self._pending = self._pending, _Pending()
        if pending.empty():
            return
        try:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    self._write(con, pending)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            log.warning("time series flush failed; kept for the next one", error=str(exc))
            with self._lock:
                pending.merge(self._pending)
                self._pending = pending
            return
        if time.monotonic() - self._pruned > _PRUNE_EVERY_S:
            self.prune()

    def _write(self, con: sqlite3.Connection, pending: _Pending) -> None:
        con.executemany(
            "INSERT INTO counts VALUES (?, ?, ?) "
            "ON CONFLICT (minute, name) DO UPDATE SET value = value + excluded.value",
            [(m, name, v) for (m, name), v in pending.counts.items()],
        )
        con.executemany(
            "INSERT INTO buckets VALUES (?, ?, ?, ?) "
            "ON CONFLICT (minute, series, bucket) DO UPDATE SET value = value + excluded.value",
            [(m, series, b, v) for (m, series, b), v in pending.buckets.items()],
        )
        con.executemany(
            "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (minute, pid) DO UPDATE SET "
            "cpu_sum = cpu_sum + excluded.cpu_sum, memory_sum = memory_sum + excluded.memory_sum, "
            "samples = samples + excluded.samples, disk_max = max(coalesce(disk_max, 0), excluded.disk_max)",
            [(m, pid, v[0], v[1], int(v[2]), v[3]) for (m, pid), v in pending.resources.items()],
        )
        con.executemany(
            "INSERT INTO backends VALUES (?, ?, ?) ON CONFLICT (backend) DO UPDATE SET "
            "up = excluded.up, updated = excluded.updated WHERE excluded.updated >= backends.updated",
            [(b, int(up), ts) for b, (up, ts) in pending.backends.items()],
        )
        con.executemany(
            "INSERT INTO in_flight VALUES (?, ?, ?) ON CONFLICT (minute, pid) DO UPDATE SET "
            "peak = max(peak, excluded.peak)",
            [(m, pid, peak) for (m, pid), peak in pending.in_flight.items()],
        )

    def prune(self) -> None:
        """Drop minutes older than the retention (any process may; it is idempotent)."""
        self._pruned = time.monotonic()
        oldest = _minute(time.time()) - self.retention_minutes
        with self._connect() as con:
            for table in ("counts", "buckets", "resources", "in_flight"):
                con.execute(f"DELETE FROM {table} WHERE minute < ?", (oldest,))  # fixed table names

    # --- reading --------------------------------------------------------------------------------------------

    def window(self, minutes: int, now: datetime | None = None) -> WindowStats:
        """The last ``minutes`` minutes up to ``now`` (its own minute included), every minute of it in
        ``points``, empty ones as zeros. This process' own unflushed data is flushed first."""
        if minutes < 1:
            raise ValueError("a window is at least one minute long")
        self.flush()
        end = _minute((now or datetime.now(UTC)).timestamp()) + 1
        start = end - minutes
        with self._connect() as con:
            counts = con.execute(
                "SELECT minute, name, value FROM counts WHERE minute >= ? AND minute < ?", (start, end)
            ).fetchall()
            buckets = con.execute(
                "SELECT minute, series, bucket, value FROM buckets WHERE minute >= ? AND minute < ?", (start, end)
            ).fetchall()
            resources = con.execute(
                "SELECT minute, sum(cpu_sum / samples), sum(memory_sum / samples), max(disk_max) FROM resources "
                "WHERE minute >= ? AND minute < ? GROUP BY minute",
                (start, end),
            ).fetchall()
            backends = con.execute("SELECT backend, up FROM backends ORDER BY backend").fetchall()
            in_flight = con.execute(
                "SELECT minute, sum(peak) FROM in_flight WHERE minute >= ? AND minute < ? GROUP BY minute", (start, end)
            ).fetchall()
        return _window_stats(start, end, counts, buckets, resources, backends, dict(in_flight))


def _window_stats(
    start: int,
    end: int,
    counts: Iterable[tuple[int, str, int]],
    buckets: Iterable[tuple[int, str, int, int]],
    resources: Iterable[tuple[int, float | None, float | None, float | None]],
    backends: Iterable[tuple[str, int]],
    in_flight: Mapping[int, int],
) -> WindowStats:
    per_minute: dict[int, Counter[str]] = {m: Counter() for m in range(start, end)}
    totals: Counter[str] = Counter()
    for minute, name, value in counts:
        per_minute[minute][name] += value
        totals[name] += value
    http_minute: dict[int, Counter[int]] = {m: Counter() for m in range(start, end)}
    series_total: dict[str, Counter[int]] = {}
    for minute, series, bucket, value in buckets:
        if series == _HTTP:
            http_minute[minute][bucket] += value
        series_total.setdefault(series, Counter())[bucket] += value
    usage = {m: (cpu, mem, disk) for m, cpu, mem, disk in resources}
    points = [
        MinutePoint(
            minute=_utc(m),
            requests=per_minute[m]["requests"],
            errors_4xx=per_minute[m]["errors_4xx"],
            errors_5xx=per_minute[m]["errors_5xx"],
            p50_s=quantile(0.5, http_minute[m]),
            p95_s=quantile(0.95, http_minute[m]),
            p99_s=quantile(0.99, http_minute[m]),
            cache_hits=per_minute[m]["cache_hit"],
            cache_misses=per_minute[m]["cache_miss"],
            cpu_percent=_round(usage.get(m, (None, None, None))[0]),
            memory_percent=_round(usage.get(m, (None, None, None))[1]),
            disk_percent=_round(usage.get(m, (None, None, None))[2]),
            in_flight_peak=in_flight.get(m),
        )
        for m in range(start, end)
    ]
    requests = totals["requests"]
    errors_4xx, errors_5xx = totals["errors_4xx"], totals["errors_5xx"]
    http = series_total.get(_HTTP, Counter())
    hits, misses = totals["cache_hit"], totals["cache_miss"]
    error_rate = errors_5xx / requests if requests else None
    return WindowStats(
        start=_utc(start),
        end=_utc(end),
        minutes=end - start,
        requests=requests,
        errors_4xx=errors_4xx,
        errors_5xx=errors_5xx,
        rate_per_minute=requests / (end - start),
        error_rate=error_rate,
        client_error_rate=errors_4xx / requests if requests else None,
        availability=None if error_rate is None else 1 - error_rate,
        p50_s=quantile(0.5, http),
        p95_s=quantile(0.95, http),
        p99_s=quantile(0.99, http),
        stage_p95_s={
            stage: p95
            for stage in STAGES
            if (p95 := quantile(0.95, series_total.get(f"{_STAGE}{stage}", Counter()))) is not None
        },
        cache_hits=hits,
        cache_misses=misses,
        cache_hit_rate=hits / (hits + misses) if hits + misses else None,
        cpu_percent=_max(p.cpu_percent for p in points),
        memory_percent=_max(p.memory_percent for p in points),
        disk_percent=_max(p.disk_percent for p in points),
        in_flight_peak=_max(p.in_flight_peak for p in points),
        backend_errors={
            name.removeprefix(_BACKEND_ERROR): value
            for name, value in sorted(totals.items())
            if name.startswith(_BACKEND_ERROR)
        },
        backends_down=[backend for backend, up in backends if not up],
        points=points,
        routes={
            series.removeprefix(_ROUTE): RouteStats(
                requests=sum(b.values()),
                p50_s=quantile(0.5, b),
                p95_s=quantile(0.95, b),
                p99_s=quantile(0.99, b),
            )
            for series, b in sorted(series_total.items())
            if series.startswith(_ROUTE)
        },
    )


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 2)


def _max(values: Iterable[_N | None]) -> _N | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def timeseries_path(settings: Settings) -> Path:
    return settings.ops_dir / "timeseries.sqlite"


def open_timeseries(settings: Settings) -> TimeSeries:
    return TimeSeries(
        timeseries_path(settings), retention_hours=settings.timeseries_retention_hours, data_dir=settings.data_dir
    )
