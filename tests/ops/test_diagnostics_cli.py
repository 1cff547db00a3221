"""The diagnostic commands over a data directory whose time series and log hold known traffic.

The time series is written through its own recording API and the log in the documented JSON Lines format, so
each command's figures can be checked exactly; the same traffic through a real server is in test_agreement.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.config import Settings, load_settings
from oppscope.ops.timeseries import open_timeseries

runner = CliRunner()


def run(settings: Settings, *args: str) -> tuple[int, Any]:
    result = runner.invoke(app, [*args, "--data-dir", str(settings.data_dir), "--json"])
    try:
        body = json.loads(result.stdout)
    except ValueError:
        body = result.output
    return result.exit_code, body


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request_record(
    moment: datetime, status: int, route: str = "/api/v1/analyses", error_code: str | None = None, **extra: Any
) -> dict[str, Any]:
    record = {
        "timestamp": stamp(moment),
        "level": "info" if status < 500 else "error",
        "event": "request",
        "logger": "oppscope.web",
        "pid": 4242,
        "request_id": extra.pop("request_id", f"req-{moment.timestamp()}-{status}"),
        "method": "POST",
        "route": route,
        "status": status,
        "duration_ms": extra.pop("duration_ms", 20.0),
    }
    if error_code:
        record["error_code"] = error_code
    return record | extra


def write_log(settings: Settings, records: list[dict[str, Any]]) -> None:
    settings.log_path.mkdir(parents=True, exist_ok=True)
    for record in records:
        day = record["timestamp"][:10]
        with (settings.log_path / f"oppscope.log.{day}").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


def traffic(settings: Settings, ok: int, invalid: int, failed: int, *, slow_s: float = 0.02) -> list[dict[str, Any]]:
    """The same requests into the time series and the log: ``ok`` 201s, ``invalid`` 422s, ``failed`` 503s."""
    series = open_timeseries(settings)
    now = datetime.now(UTC)
    records = []
    for index, (status, code) in enumerate(
        [(201, None)] * ok + [(422, "invalid_input")] * invalid + [(503, "history_unavailable")] * failed
    ):
        duration = slow_s if status == 201 else 0.004
        series.record_request("POST", "/api/v1/analyses", status, duration)
        records.append(
            request_record(
                now - timedelta(seconds=30) + timedelta(milliseconds=index),
                status,
                error_code=code,
                duration_ms=duration * 1000,
                request_id=f"r{index}",
            )
        )
    series.flush()
    write_log(settings, records)
    return records


def test_alerts_check_fires_the_criticals_on_a_high_error_rate_and_exits_1(settings: Settings) -> None:
    traffic(settings, ok=80, invalid=10, failed=10)
    code, body = run(settings, "alerts", "check")
    assert code == 1 and body["critical_firing"] is True
    states = {a["name"]: a for a in body["alerts"]}
    assert states["OppscopeErrorRateCritical"]["state"] == "firing"
    assert states["OppscopeErrorRateCritical"]["value"] == pytest.approx(0.1)
    assert states["OppscopeAvailabilityLow"]["value"] == pytest.approx(0.9)
    assert states["OppscopeErrorRateHigh"]["state"] == "firing"
    assert states["OppscopeLatencyCritical"]["state"] == "ok"
    assert states["OppscopeBackendDown"]["state"] == "ok"


def test_alerts_check_is_quiet_and_exits_0_below_every_threshold(settings: Settings) -> None:
    traffic(settings, ok=990, invalid=50, failed=1)  # 5xx 0.096%: availability 99.9%
    code, body = run(settings, "alerts", "check")
    assert code == 0, body
    assert [a["name"] for a in body["alerts"] if a["state"] == "firing"] == []


def test_a_down_backend_is_critical(settings: Settings) -> None:
    series = open_timeseries(settings)
    series.record_backend("history", up=False, error=True)
    series.record_backend("state_database", up=True)
    series.flush()
    code, body = run(settings, "alerts", "check")
    down = next(a for a in body["alerts"] if a["name"] == "OppscopeBackendDown")
    assert code == 1 and down["state"] == "firing" and down["backends"] == ["history"]


class Hook:
    def __init__(self) -> None:
        self.bodies: list[Any] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_alerts_check_notifies_the_webhook_of_the_firing_alerts(settings: Settings, hook: Hook) -> None:
    traffic(settings, ok=100, invalid=0, failed=0, slow_s=20.0)  # p95 29.25 s: the warning, not the critical
    code, body = run(settings, "alerts", "check", "--notify", hook.url)
    assert code == 0 and body["notified"]["status"] == 204
    (sent,) = hook.bodies
    assert [a["labels"]["alertname"] for a in sent["alerts"]] == ["OppscopeLatencyHigh"]
    assert sent["alerts"][0]["annotations"]["value"] == "29.250 s"
    code, body = run(settings, "alerts", "check", "--notify", hook.url, "--notify-format", "slack")
    assert hook.bodies[1]["text"] == "oppscope: 1 alert firing"


def test_logs_errors_groups_by_code_with_the_count_and_the_latest_example(settings: Settings) -> None:
    records = traffic(settings, ok=5, invalid=4, failed=2)
    old = request_record(datetime.now(UTC) - timedelta(hours=3), 500, error_code="internal_error")
    startup = {"timestamp": stamp(datetime.now(UTC)), "event": "startup", "level": "info", "status": 500}
    write_log(settings, [old, startup])
    with (settings.log_path / f"oppscope.log.{old['timestamp'][:10]}").open("a") as handle:
        handle.write("not json\n")
    code, body = run(settings, "logs", "errors", "--since", "1h")
    assert code == 0
    assert body["total"] == 6
    groups = {g["code"]: g for g in body["groups"]}
    assert list(groups) == ["invalid_input", "history_unavailable"]
    assert groups["invalid_input"]["count"] == 4 and groups["invalid_input"]["statuses"] == {"422": 4}
    latest_invalid = [r for r in records if r["status"] == 422][-1]
    assert groups["invalid_input"]["latest"] == {
        "timestamp": latest_invalid["timestamp"],
        "method": "POST",
        "route": "/api/v1/analyses",
        "status": 422,
        "request_id": latest_invalid["request_id"],
        "duration_ms": latest_invalid["duration_ms"],
    }
    since_old = (datetime.now(UTC) - timedelta(hours=4)).isoformat()
    code, body = run(settings, "logs", "errors", "--since", since_old)
    assert body["total"] == 7 and body["groups"][-1]["code"] == "internal_error"


def test_logs_errors_refuses_a_bad_since(settings: Settings) -> None:
    code, body = run(settings, "logs", "errors", "--since", "yesterday")
    assert code == 2 and body["error"]["code"] == "invalid_input"


def test_queries_slow_lists_the_slow_requests_with_their_stage_times(settings: Settings) -> None:
    now = datetime.now(UTC)
    slow = request_record(now, 201, duration_ms=4200.0, request_id="slow-1")
    stages = {"resolve": 1.0, "retrieve": 3100.0, "estimate": 900.0, "narrative": 150.0, "store": 40.0}
    analysis = {
        "timestamp": stamp(now),
        "event": "analysis",
        "request_id": "slow-1",
        "stages_ms": stages,
        "cache": "miss",
        "level": "info",
        "pid": 4242,
    }
    fast = request_record(now, 201, duration_ms=80.0, request_id="fast-1")
    write_log(settings, [analysis, slow, fast])
    code, body = run(settings, "queries", "slow", "--threshold", "1")
    assert code == 0 and (body["requests"], body["slow"]) == (2, 1)
    (item,) = body["items"]
    assert item["request_id"] == "slow-1" and item["stages_ms"] == stages and item["cache"] == "miss"
    code, body = run(settings, "queries", "slow", "--threshold", "0.05")
    assert [i["request_id"] for i in body["items"]] == ["slow-1", "fast-1"]


def test_cache_stats_counts_hits_and_misses(settings: Settings) -> None:
    series = open_timeseries(settings)
    for hit in [True] * 3 + [False]:
        series.record_cache(hit)
    series.flush()
    code, body = run(settings, "cache", "stats")
    assert code == 0 and (body["hits"], body["misses"], body["hit_rate"]) == (3, 1, 0.75)


def test_metrics_resources_reports_the_machine_the_window_and_live_processes(settings: Settings) -> None:
    import os

    series = open_timeseries(settings)
    series.record_resources()
    series.flush()
    write_log(settings, [request_record(datetime.now(UTC), 200, pid=os.getpid())])
    code, body = run(settings, "metrics", "resources")
    assert code == 0
    assert 0 <= body["now"]["cpu_percent"] <= 100 and 0 < body["now"]["disk_percent"] <= 100
    assert body["window_max"]["disk_percent"] is not None
    assert [p["pid"] for p in body["processes"]] == [os.getpid()]


def test_diagnose_reports_every_section_with_the_numbers_of_the_other_commands(settings: Settings) -> None:
    traffic(settings, ok=80, invalid=10, failed=10)
    code, body = run(settings, "diagnose", "--url", "http://127.0.0.1:9")
    assert code == 1 and body["status"] == "fail"
    assert {"health", "window", "errors", "resources", "cache", "slow_requests", "alerts", "last_backup"} <= body.keys()
    window = body["window"]
    assert (window["requests"], window["errors_4xx"], window["errors_5xx"]) == (100, 10, 10)
    assert window["error_rate"] == pytest.approx(0.1) and window["latency_s"]["p95"] is not None
    _, errors = run(settings, "logs", "errors", "--since", "15m")
    assert body["errors"] == errors["groups"]
    _, alerts = run(settings, "alerts", "check")
    assert [(a["name"], a["state"], a["value"]) for a in body["alerts"]] == [
        (a["name"], a["state"], a["value"]) for a in alerts["alerts"]
    ]
    health = {c["name"]: c["status"] for s in body["health"]["suites"] for c in s["checks"]}
    assert health["history"] == "fail" and health["service"] == "fail"  # an empty data dir, no service


def test_monitor_errors_watches_and_stops_at_a_crossed_threshold(settings: Settings) -> None:
    traffic(settings, ok=99, invalid=0, failed=1)
    result = runner.invoke(
        app, ["monitor", "errors", "--duration", "2s", "--interval", "1s", "--data-dir", str(settings.data_dir)]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "last 5 min" in line]
    assert len(lines) >= 2 and all("error rate 1.00%" in line and line.endswith("ok") for line in lines)
    traffic(settings, ok=0, invalid=0, failed=10)  # now 11 of 110: 10% > 5%
    result = runner.invoke(
        app,
        ["monitor", "errors", "--duration", "1m", "--interval", "1s", "--data-dir", str(settings.data_dir), "--json"],
    )
    assert result.exit_code == 1
    (reading,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert reading["error_rate"] == pytest.approx(0.1) and reading["crossed"] == ["error rate 10.00% > 5%"]
