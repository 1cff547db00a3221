"""``/ops`` and ``/ops/data`` over HTTP: the shapes, the window choice, and who may read them."""

from __future__ import annotations

import json
import time

import httpx
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.ops.timeseries import open_timeseries
from oppscope.web.app import create_app
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, create_token, serving


def test_the_data_has_every_section_and_refuses_an_unknown_window(web_settings: WebSettings) -> None:
    with serving(create_app(web_settings())) as url, httpx.Client(base_url=url, timeout=60) as http:
        body = http.get("/ops/data", params={"window": "24h"}).json()
        assert body["window_name"] == "24h" and body["window"]["minutes"] == 1440
        assert {"window", "errors", "cache", "resources", "alerts", "alerts_firing", "last_backup", "charts"} <= set(
            body
        )
        assert len(body["charts"]["labels"]) == 1440 and body["last_backup"] is None
        assert body["emergency"] is None  # emergency maintenance is off
        assert [p["key"] for p in body["charts"]["panels"]] == [
            "requests",
            "latency",
            "errors",
            "availability",
            "cache",
            "resources",
        ]
        refused = http.get("/ops/data", params={"window": "7d"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_input"
        page = http.get("/ops")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert page.headers["cache-control"] == "no-store"


def test_only_the_ops_scope_reads_them_where_tokens_are_required(web_settings: WebSettings) -> None:
    settings = web_settings(require_auth=True)
    reader, operator = create_token(settings, "read", "write"), create_token(settings, "ops")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/ops/data").status_code == 401
        refused = http.get("/ops/data", headers={"Authorization": f"Bearer {reader}"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
        assert http.get("/ops/data", headers={"Authorization": f"Bearer {operator}"}).status_code == 200
        page = http.get("/ops")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fops"
        assert http.get("/ops", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        assert http.get("/ops", headers={"Authorization": f"Bearer {operator}"}).status_code == 200


def test_cache_stats_asks_the_service_for_its_entries(web_settings: WebSettings) -> None:
    settings = web_settings(analysis_cache_enabled=True, timeseries_flush_seconds=0.2)
    with serving(create_app(settings)) as url:
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(3):
                assert http.post("/api/v1/analyses", json=OPPORTUNITY).status_code == 201
        series = open_timeseries(settings)
        deadline = time.monotonic() + 10
        while series.window(5).cache_hits + series.window(5).cache_misses < 3:  # the server's next flush
            assert time.monotonic() < deadline
            time.sleep(0.1)
        result = CliRunner().invoke(
            app,
            ["cache", "stats", "--url", url, "--data-dir", str(settings.data_dir), "--json"],
            env={"OPPSCOPE_ANALYSIS_CACHE_ENABLED": "true"},
        )
    body = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert (body["enabled"], body["hits"], body["misses"]) == (True, 2, 1)
    assert body["worker"]["cache_entries"] == 1
