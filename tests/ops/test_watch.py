"""The monitoring levels and the memory watch: real time series files, a real webhook receiver on loopback, the
real JSON log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from oppscope.config import load_settings
from oppscope.ops.logging import configure_logging, log_files
from oppscope.ops.metrics import Telemetry
from oppscope.ops.timeseries import open_timeseries
from oppscope.ops.watch import AlertWatch
from tests.ops.test_notify import Receiver

SECRET_PATH = "/services/T000/s3cr3t-path"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    threading.Thread(target=made.server.serve_forever, daemon=True).start()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _log(data_dir: Path) -> list[dict[str, Any]]:
    files = [path for _, path in log_files(load_settings(data_dir=data_dir))]
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def test_full_monitoring_evaluates_the_alerts_once_per_service_and_notifies_new_ones(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = receiver.url.replace("/hook", SECRET_PATH)
    settings = load_settings(data_dir=tmp_path, profile="staging", alert_webhook_url=url, log_level="info")
    configure_logging(settings, stream="stderr")
    series = open_timeseries(settings)
    for status in [201] * 80 + [503] * 20:
        series.record_request("POST", "/api/v1/analyses", status, 0.01)
    series.flush()

    first, second = AlertWatch(settings, series), AlertWatch(settings, open_timeseries(settings))
    try:
        assert "OppscopeErrorRateCritical" in first.run()
        assert second.run() == [] and not second.holds_lock()  # another worker: evaluated once per service
        assert first.run() == []  # still firing: not notified again
        (sent,) = receiver.bodies
        assert "OppscopeErrorRateCritical" in {a["labels"]["alertname"] for a in sent["alerts"]}
        first.close()
        assert second.holds_lock()  # the next worker takes over
    finally:
        first.close()
        second.close()
    firing = [r for r in _log(tmp_path) if r["event"] == "alert firing"]
    assert "OppscopeErrorRateCritical" in {r["alert"] for r in firing}
    assert SECRET_PATH not in "".join(p.read_text() for p in (tmp_path / "logs").glob("*"))


def test_basic_monitoring_evaluates_no_alert_in_the_service(tmp_path: Path) -> None:
    basic, full = (
        Telemetry(load_settings(data_dir=tmp_path / "a")),
        Telemetry(load_settings(data_dir=tmp_path / "b", profile="production")),
    )
    for telemetry in (basic, full):
        telemetry.start()
    try:
        assert basic.settings.monitoring == "basic" and basic.alerts is None
        assert full.settings.monitoring == "full" and full.alerts is not None
        assert basic.series is not None  # the time series /ops and `alerts check` read is kept at both levels
    finally:
        basic.stop()
        full.stop()


def test_the_memory_watch_logs_when_a_worker_passes_its_share(tmp_path: Path) -> None:
    """64 workers of the minimal size: a 32 MB share each, which this Python process (NumPy, DuckDB) exceeds."""
    settings = load_settings(data_dir=tmp_path, workers=64, log_level="info")
    configure_logging(settings, stream="stderr")
    telemetry = Telemetry(settings)
    assert telemetry.memory.limit_bytes == 2048 * 2**20 // 64
    telemetry.start()
    try:
        assert telemetry.memory.over
        telemetry.sample()  # still over: logged once
    finally:
        telemetry.stop()
    warnings = [r for r in _log(tmp_path) if r["event"].startswith("worker memory over")]
    assert len(warnings) == 1 and warnings[0]["share_mb"] == 32
    roomy = Telemetry(load_settings(data_dir=tmp_path / "roomy"))
    assert roomy.memory.limit_bytes == 2048 * 2**20 and not roomy.memory.check()
