"""The internal time series: exact counts, bucket-exact percentiles, several writer processes, retention."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oppscope.config import load_settings
from oppscope.ops.timeseries import BUCKETS_S, STAGES, bucket_index, open_timeseries, quantile, timeseries_path


def test_quantile_interpolates_inside_the_bucket_like_histogram_quantile() -> None:
    # 10 observations in (0.05, 0.1], 10 in (0.1, 0.25]: the median is the top of the first bucket.
    counts = {bucket_index(0.07): 10, bucket_index(0.2): 10}
    assert quantile(0.5, counts) == pytest.approx(0.1)
    assert quantile(0.75, counts) == pytest.approx(0.1 + 0.15 * 0.5)
    assert quantile(0.5, {}) is None
    # Beyond the last edge Prometheus answers the last finite edge.
    assert quantile(0.99, {len(BUCKETS_S): 3}) == 60.0
    assert bucket_index(0.05) == BUCKETS_S.index(0.05)  # an edge belongs to its own bucket (le)
    assert 15 in BUCKETS_S and 30 in BUCKETS_S


def test_a_window_counts_exactly_what_was_recorded(tmp_path: Path) -> None:
    series = open_timeseries(load_settings(data_dir=tmp_path))
    for _ in range(90):
        series.record_request("POST", "/api/v1/analyses", 201, 0.02)
    for _ in range(7):
        series.record_request("POST", "/api/v1/analyses", 422, 0.004)
    for _ in range(3):
        series.record_request("GET", "/api/v1/analyses/{analysis_id}", 503, 12.0)
    for stage in STAGES:
        series.record_stage(stage, 0.003)
    series.record_cache(True)
    series.record_cache(False)
    series.record_cache(False)
    series.record_backend("history", up=False, error=True)
    series.record_backend("state", up=True)
    series.record_resources()
    series.flush()

    window = series.window(15)
    assert window.minutes == 15 and len(window.points) == 15
    assert window.end - window.start == timedelta(minutes=15)
    assert (window.requests, window.errors_4xx, window.errors_5xx) == (100, 7, 3)
    assert window.error_rate == pytest.approx(0.03)
    assert window.client_error_rate == pytest.approx(0.07)
    assert window.availability == pytest.approx(0.97)
    assert window.rate_per_minute == pytest.approx(100 / 15)
    assert window.p50_s == pytest.approx(
        quantile(0.5, {bucket_index(0.02): 90, bucket_index(0.004): 7, bucket_index(12.0): 3})
    )
    assert window.p99_s is not None and 10 < window.p99_s <= 15
    assert set(window.stage_p95_s) == set(STAGES)
    assert (window.cache_hits, window.cache_misses) == (1, 2)
    assert window.cache_hit_rate == pytest.approx(1 / 3)
    assert window.backend_errors == {"history": 1}
    assert window.backends_down == ["history"]
    assert window.cpu_percent is not None and window.memory_percent is not None and window.disk_percent is not None
    assert window.routes["GET /api/v1/analyses/{analysis_id}"].requests == 3
    assert window.points[-1].requests == 100  # all of it in the current minute
    assert sum(p.requests for p in window.points[:-1]) == 0

    earlier = series.window(15, now=datetime.now(UTC) - timedelta(hours=1))
    assert earlier.requests == 0 and earlier.error_rate is None and earlier.p95_s is None


def test_a_later_backend_report_wins(tmp_path: Path) -> None:
    series = open_timeseries(load_settings(data_dir=tmp_path))
    series.record_backend("history", up=False, error=True)
    series.flush()
    series.record_backend("history", up=True)
    assert series.window(5).backends_down == []
    assert series.window(5).backend_errors == {"history": 1}


_WRITER = """
import sys
from pathlib import Path
from oppscope.config import load_settings
from oppscope.ops.timeseries import open_timeseries
series = open_timeseries(load_settings(data_dir=Path(sys.argv[1])))
for i in range(200):
    series.record_request("GET", "/x", 500 if i % 10 == 0 else 200, 0.01)
    if i % 50 == 0:
        series.flush()
series.flush()
"""


def test_several_processes_add_into_one_window(tmp_path: Path) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)]) for _ in range(3)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    window = open_timeseries(load_settings(data_dir=tmp_path)).window(5)
    assert (window.requests, window.errors_5xx) == (600, 60)


def test_minutes_beyond_the_retention_are_pruned(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, timeseries_retention_hours=24)
    series = open_timeseries(settings)
    series.record_request("GET", "/x", 200, 0.01)
    series.flush()
    old_minute = int(time.time() // 60) - 25 * 60
    with sqlite3.connect(timeseries_path(settings)) as con:
        con.execute("INSERT INTO counts VALUES (?, 'requests', 5)", (old_minute,))
    series.prune()
    with sqlite3.connect(timeseries_path(settings)) as con:
        minutes = [m for (m,) in con.execute("SELECT minute FROM counts")]
    assert old_minute not in minutes and len(minutes) == 1


def test_a_window_is_at_least_a_minute(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_timeseries(load_settings(data_dir=tmp_path)).window(0)
