"""Under a load that produces errors (bad input, a missing analysis, a failing backend) against the real
``oppscope serve --workers 2``, ``/ops``, ``oppscope diagnose``, ``logs errors`` and ``alerts check`` tell the
same story with the same numbers; ``monitor errors --url`` sees it live on ``/metrics``; and every metric name
the exported rules and dashboards query is one the service really exposes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.ops import alerts, dashboard
from oppscope.ops.logging import iter_log_records
from oppscope.ops.timeseries import open_timeseries
from tests.examples import OPPORTUNITY
from tests.ops.conftest import Served

GOOD, INVALID, MISSING, FAILING = 6, 5, 3, 4


def cli(served: Served, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(served.settings.data_dir), "--json"], env=served.env)
    return result.exit_code, json.loads(result.stdout)


def wait_until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def erroneous_load(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=120) as http:
        for _ in range(GOOD):
            assert http.post("/api/v1/analyses", json=OPPORTUNITY).status_code == 201
        for _ in range(INVALID):
            assert http.post("/api/v1/analyses", json={"region": "Germany"}).status_code == 422
        for _ in range(MISSING):
            assert http.get("/api/v1/analyses/no-such-analysis").status_code == 404
        # the history backend fails: its file disappears (analyses still answer from the engine in memory)
        history = served.settings.history_path
        history.rename(history.with_suffix(".away"))
        for _ in range(FAILING):
            assert http.get("/api/v1/history/stats").status_code == 503


def test_every_interface_tells_the_same_story_with_the_same_numbers(served: Served) -> None:
    erroneous_load(served)
    series = open_timeseries(served.settings)
    # both workers flush every half second and probe their backends every second
    wait_until(lambda: series.window(15).errors_5xx == FAILING, "the failures in the time series")
    wait_until(lambda: series.window(15).backends_down == ["history"], "the history reported down")
    wait_until(lambda: series.window(15).requests == _logged_requests(served), "every worker's flush")

    alerts_code, checked = cli(served, "alerts", "check")
    _, logged = cli(served, "logs", "errors", "--since", "15m")
    diagnose_code, diagnosis = cli(served, "diagnose", "--window", "15m", "--no-service")
    logged_requests = _logged_requests(served)
    with httpx.Client(base_url=served.url, timeout=60) as http:
        ops = http.get("/ops/data", params={"window": "15m"}).json()
        page = http.get("/ops", params={"window": "15m"}).text

    # the story: a critical error rate, a backend down, and which requests failed how
    assert alerts_code == 1 and checked["critical_firing"] is True
    assert diagnose_code == 1 and diagnosis["status"] == "fail"
    window = ops["window"]
    assert (window["errors_4xx"], window["errors_5xx"]) == (INVALID + MISSING, FAILING)
    assert window["backends_down"] == ["history"]
    groups = {g["code"]: g["count"] for g in logged["groups"]}
    assert groups == {"invalid_input": INVALID, "analysis_not_found": MISSING, "history_missing": FAILING}
    assert logged["total"] == INVALID + MISSING + FAILING

    # the same numbers everywhere
    # every figure, but the backend probes' error count, which grows each second while the history is down
    probed = diagnosis["window"].pop("backend_errors"), window.pop("backend_errors")
    assert diagnosis["window"] == window
    assert 0 < probed[0]["history"] <= probed[1]["history"]
    assert diagnosis["errors"] == ops["errors"] == logged["groups"]
    assert diagnosis["cache"] == ops["cache"] and ops["cache"]["hits"] + ops["cache"]["misses"] == GOOD
    assert ops["cache"]["hits"] >= GOOD - 2  # one miss per worker at most
    assert window["requests"] == logged_requests, "the time series and the log count the same requests"
    assert window["error_rate"] == FAILING / window["requests"]

    resources = {"OppscopeCpuHigh", "OppscopeMemoryHigh", "OppscopeDiskHigh"}  # sampled every second: values move

    def story(states: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(a["name"], a["state"], a["backends"], None if a["name"] in resources else a["value"]) for a in states]

    assert story(checked["alerts"]) == story(diagnosis["alerts"]) == story(ops["alerts"])
    firing = {a["name"] for a in ops["alerts"] if a["state"] == "firing"}
    assert {"OppscopeErrorRateCritical", "OppscopeAvailabilityLow", "OppscopeBackendDown"} <= firing
    assert ops["alerts_firing"] == diagnosis["alerts_firing"]

    # and the page shows them
    # (its own figures count the /ops/data request before it; the failures are the same)
    assert f"{window['errors_5xx']} server errors" in page
    assert "down: history" in page
    for code, count in groups.items():
        assert f'data-error-code="{code}"' in page and f"data-count>{count}</td>" in page


def _logged_requests(served: Served) -> int:
    since = datetime.now(UTC) - timedelta(minutes=15)
    return sum(1 for r in iter_log_records(served.settings, since) if r.get("event") == "request")


def test_monitor_errors_on_the_metrics_endpoint_stops_when_errors_cross_the_threshold(
    served: Served, tmp_path: Path
) -> None:
    command = [
        str(Path(sys.executable).parent / "oppscope"),
        "monitor",
        "errors",
        "--url",
        served.url,
        "--duration",
        "60s",
        "--interval",
        "1s",
        "--data-dir",
        str(served.settings.data_dir),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=served.env) as watch:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert "ok" in first, first
        with httpx.Client(base_url=served.url, timeout=60) as http:
            for _ in range(10):
                http.get("/api/v1/analyses/no-such-analysis")  # 4xx: no threshold
            served.settings.history_path.rename(served.settings.history_path.with_suffix(".away"))
            for _ in range(5):
                http.get("/api/v1/history/stats")  # 503
        out, err = watch.communicate(timeout=60)
    assert watch.returncode == 1, out + err
    last = out.strip().splitlines()[-1]
    assert "CROSSED: error rate" in last and "threshold crossed" in err


def test_every_metric_the_rules_and_dashboards_query_is_exposed(served: Served, tmp_path: Path) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as http:
        http.post("/api/v1/analyses", json=OPPORTUNITY)
        scrape = http.get("/metrics").text
    exposed = {family.name for family in text_string_to_metric_families(scrape)}
    queried = {
        alerts.REQUESTS,
        alerts.DURATION_BUCKETS,
        alerts.BACKEND_UP,
        alerts.CACHE,
        alerts.STAGE_BUCKETS,
        *alerts.RESOURCE_METRICS.values(),
    }
    families = {name.removesuffix("_total").removesuffix("_bucket") for name in queried}
    assert families <= exposed, families - exposed
    text = json.dumps(dashboard.grafana(served.settings))
    assert all(name in text for name in queried - {alerts.BACKEND_UP})
