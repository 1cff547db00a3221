"""Prometheus metrics (the names are a contract: dashboards and alert rules query them) and ``Telemetry``, the one
object the web layer and the analyses report to, which feeds both Prometheus and the internal time series.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``oppscope serve`` sets it before the workers start) every worker writes
its values to files there and ``/metrics`` merges them, so a scrape answered by any worker counts all of them.
The default process collector does not work in that mode: CPU and memory are gauges each worker sets from its
resource sampler (summed over the live workers) and a CPU-seconds counter. Without the variable (a test's
in-process app) the usual single-process registry, with the standard process metrics, is used.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from oppscope.config import Settings
from oppscope.ops.health import Check, run_checks
from oppscope.ops.multiproc import MULTIPROC_ENV, dead_pids
from oppscope.ops.timeseries import BUCKETS_S, TimeSeries, open_timeseries
from oppscope.ops.watch import AlertWatch, MemoryWatch

log = structlog.get_logger(__name__)

UNMATCHED_ROUTE = "unmatched"

# Multiprocess or not is decided once, as prometheus-client decides it: by the environment when it was imported
# (a variable set later in this process, by a command run inside a test, changes nothing).
MULTIPROC_DIR = os.environ.get(MULTIPROC_ENV) if values.ValueClass is not values.MutexValue else None

HTTP_REQUESTS = Counter(
    "oppscope_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
HTTP_DURATION = Histogram(
    "oppscope_http_request_duration_seconds",
    "Time from receiving a request to the end of its answer.",
    ("method", "route"),
    buckets=BUCKETS_S,
)
STAGE_SECONDS = Histogram(
    "oppscope_analysis_stage_seconds",
    "Time spent in each stage of an analysis (resolve, retrieve, estimate, narrative, store).",
    ("stage",),
    buckets=BUCKETS_S,
)
CACHE_REQUESTS = Counter("oppscope_cache_requests_total", "Analysis cache look-ups, by result.", ("result",))
BACKEND_ERRORS = Counter("oppscope_backend_errors_total", "Failed checks or calls of a backend.", ("backend",))
BACKEND_UP = Gauge(
    "oppscope_backend_up",
    "1 when the backend's latest check passed, 0 when it failed.",
    ("backend",),
    multiprocess_mode="mostrecent",
)
PROCESS_CPU_SECONDS = Counter(
    "oppscope_process_cpu_seconds_total", "User and system CPU time of the server's worker processes."
)
PROCESS_CPU_PERCENT = Gauge(
    "oppscope_process_cpu_percent",
    "CPU used by the live worker processes since their previous sample, in percent of the whole machine.",
    multiprocess_mode="livesum",
)
PROCESS_MEMORY_BYTES = Gauge(
    "oppscope_process_resident_memory_bytes",
    "Resident memory of the live worker processes.",
    multiprocess_mode="livesum",
)
PROCESS_MEMORY_PERCENT = Gauge(
    "oppscope_process_memory_percent",
    "Resident memory of the live worker processes, in percent of the machine's memory.",
    multiprocess_mode="livesum",
)
DISK_USED_PERCENT = Gauge(
    "oppscope_disk_used_percent", "Used space of the data directory's filesystem.", multiprocess_mode="livemax"
)
WORKERS = Gauge("oppscope_workers", "Live server worker processes.", multiprocess_mode="livesum")
MEMORY_LIMIT_BYTES = Gauge(
    "oppscope_memory_limit_bytes",
    "The memory the profile's resources size the service for (resources: 2, 4 or 8 GB).",
    multiprocess_mode="max",
)
HTTP_IN_FLIGHT = Gauge(
    "oppscope_http_requests_in_flight",
    "Requests received and not yet answered, over the live workers (being served or waiting for a thread).",
    multiprocess_mode="livesum",
)


def render_metrics() -> tuple[bytes, str]:
    """The scrape: every worker's values in multiprocess mode, after forgetting the live gauges of dead ones."""
    if not MULTIPROC_DIR:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    for pid in dead_pids(Path(MULTIPROC_DIR)):
        multiprocess.mark_process_dead(pid, MULTIPROC_DIR)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class Telemetry:
    """Each event is reported once here and lands in Prometheus and in the time series alike, so ``/metrics``,
    ``/ops`` and the commands that read the time series count the same requests.

    ``start`` (in each worker's lifespan) opens the time series and runs a daemon thread that flushes it every
    ``timeseries_flush_seconds`` and samples resources and backends every ``resource_sample_seconds``, watching
    the worker's memory share; with ``monitoring = "full"`` it also evaluates the alerts every minute
    (``ops.watch``).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.series: TimeSeries | None = None
        self._checks: Sequence[Check] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()
        self._cpu_seconds = self._cpu_time()
        self.memory = MemoryWatch(settings, self._process)
        self.alerts: AlertWatch | None = None
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    # --- events ---------------------------------------------------------------------------------------------

    def received(self) -> None:
        """A request arrived; ``request`` reports its end. The count between the two is the queue depth that
        capacity planning compares with the seed's triggers."""
        self._track_in_flight(+1)

    def request(self, method: str, route: str, status: int, duration_s: float) -> None:
        self._track_in_flight(-1)
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_DURATION.labels(method, route).observe(duration_s)
        if self.series is not None:
            self.series.record_request(method, route, status, duration_s)

    def stage(self, stage: str, seconds: float) -> None:
        STAGE_SECONDS.labels(stage).observe(seconds)
        if self.series is not None:
            self.series.record_stage(stage, seconds)

    def cache(self, hit: bool) -> None:
        CACHE_REQUESTS.labels("hit" if hit else "miss").inc()
        if self.series is not None:
            self.series.record_cache(hit)

    def _track_in_flight(self, delta: int) -> None:
        with self._in_flight_lock:
            self._in_flight = max(0, self._in_flight + delta)
            count = self._in_flight
        HTTP_IN_FLIGHT.inc(delta)
        if self.series is not None:
            self.series.record_in_flight(count)

    def backend(self, backend: str, up: bool, error: bool = False) -> None:
        BACKEND_UP.labels(backend).set(1 if up else 0)
        if error:
            BACKEND_ERRORS.labels(backend).inc()
        if self.series is not None:
            self.series.record_backend(backend, up, error)

    # --- the worker's background sampling -------------------------------------------------------------------

    def start(self, checks: Sequence[Check] = ()) -> None:
        """Open the time series and sample every few seconds; ``checks`` are the readiness checks, whose
        results become ``oppscope_backend_up`` and ``oppscope_backend_errors_total``."""
        self.series = open_timeseries(self.settings)
        self._checks = checks
        if self.settings.monitoring == "full":
            self.alerts = AlertWatch(self.settings, self.series)
        WORKERS.set(1)
        MEMORY_LIMIT_BYTES.set(self.settings.resource_size.memory_mb * 2**20)
        self.sample()
        self._thread = threading.Thread(target=self._run, name="oppscope-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.series is not None:
            self.series.flush()
        if self.alerts is not None:
            self.alerts.close()
        if MULTIPROC_DIR:
            multiprocess.mark_process_dead(os.getpid(), MULTIPROC_DIR)

    def sample(self) -> None:
        """Resources now (time series and gauges) and each checked backend's state."""
        assert self.series is not None, "started"
        usage = self.series.record_resources()
        seconds = self._cpu_time()
        PROCESS_CPU_SECONDS.inc(max(0.0, seconds - self._cpu_seconds))
        self._cpu_seconds = seconds
        PROCESS_CPU_PERCENT.set(usage.cpu_percent)
        PROCESS_MEMORY_PERCENT.set(usage.memory_percent)
        PROCESS_MEMORY_BYTES.set(self._process.memory_info().rss)
        DISK_USED_PERCENT.set(usage.disk_percent)
        self.memory.check()
        with self._in_flight_lock:
            count = self._in_flight
        self.series.record_in_flight(count)  # a minute with long requests and no new one still has its depth
        if self._checks:
            readiness = run_checks(self._checks)
            for backend in readiness.checks:
                up = backend not in readiness.failing
                self.backend(backend, up, error=not up)

    def _cpu_time(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def _run(self) -> None:
        assert self.series is not None, "started"
        flush_s = self.settings.timeseries_flush_seconds
        sample_s = self.settings.resource_sample_seconds
        next_sample = time.monotonic() + sample_s
        while not self._stop.wait(min(flush_s, max(0.0, next_sample - time.monotonic()))):
            try:
                if time.monotonic() >= next_sample:
                    next_sample = time.monotonic() + sample_s
                    self.sample()
                self.series.flush()
                if self.alerts is not None and self.alerts.due():
                    self.alerts.run()
            except Exception as exc:  # telemetry must never take a worker down
                log.warning("telemetry sampling failed", error=f"{type(exc).__name__}: {exc}")
