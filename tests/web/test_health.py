"""Health endpoints and start-up behaviour of the served app."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app as cli
from oppscope.config import load_settings
from oppscope.state.migrate import StateNotMigratedError
from oppscope.web.app import create_app
from tests.examples import OPPORTUNITY
from tests.history.test_locking import hold_in_another_process
from tests.web.conftest import WebSettings, create_token, migrate, serving


def test_live(client: httpx.Client) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_checks_every_dependency_with_its_latency(client: httpx.Client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"history", "analysis_engine", "state_database", "disk"}
    assert body["failing"] == []
    assert 0 < body["checks"]["disk"]["free_percent"] <= 100
    assert body["checks"]["history"]["rows"] > 0
    assert all(check["latency_ms"] >= 0 for check in body["checks"].values())


def test_probes_may_use_head(client: httpx.Client) -> None:
    for path in ("/health/live", "/health/ready"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""


def test_other_methods_are_a_structured_405(client: httpx.Client) -> None:
    response = client.delete("/api/v1/analyses")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET, POST"


def test_health_summary_speaks_the_original_shape_too(client: httpx.Client) -> None:
    for path in ("/health", "/api/health"):
        body = client.get(path).json()
        assert body["status"] == "healthy"
        assert body["checks"] == {"history": "ok", "analysis_engine": "ok", "state_database": "ok", "disk": "ok"}


def test_unknown_route_is_a_structured_404(client: httpx.Client) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_not_ready_without_history(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "empty", load_sample_if_empty=False)
    migrate(settings)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/health/live").status_code == 200
        ready = http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["history"]["status"] != "ok"
        assert http.get("/health").json()["status"] == "unhealthy"
        refused = http.post("/api/v1/analyses", json=OPPORTUNITY)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"]
        assert refused.headers["retry-after"]


def test_not_ready_names_the_failing_check(web_settings: WebSettings) -> None:
    settings = web_settings(disk_free_min_percent=100)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        ready = http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["failing"] == ["disk"]
        assert ready.json()["checks"]["disk"]["status"] == "low"
        summary = http.get("/health")
        assert (summary.status_code, summary.json()["failing"]) == (503, ["disk"])


def test_the_health_command_asks_a_running_server(web_settings: WebSettings) -> None:
    settings = web_settings(profile="staging")
    operator = create_token(settings, "ops")
    with serving(create_app(settings)) as url:
        ready = CliRunner().invoke(cli, ["health", "--url", url, "--token", operator, "--json"])
        assert ready.exit_code == 0, ready.output
        assert json.loads(ready.stdout)["checks"]["history"]["status"] == "ok"
        bare = CliRunner().invoke(cli, ["health", "--url", url, "--json"])
        assert (bare.exit_code, json.loads(bare.stdout)) == (0, {"status": "ready", "mode": "normal"})
        live = CliRunner().invoke(cli, ["health", "--url", url, "--quick", "--json"])
        assert (live.exit_code, json.loads(live.stdout)) == (0, {"status": "ok"})


def test_app_refuses_to_start_on_an_unmigrated_database(web_settings: WebSettings) -> None:
    settings = web_settings()
    settings.state_path.unlink()

    async def start() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pass

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool, pytest.raises(StateNotMigratedError, match="oppscope db upgrade"):
        pool.submit(asyncio.run, start()).result()


def test_an_import_in_another_process_keeps_the_server_ready(web_settings: WebSettings) -> None:
    """While an import holds the history, analyses answer from the engine in memory: busy, not down."""
    settings = web_settings()
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/health/ready").json()["checks"]["history"]["status"] == "ok"
        holder = hold_in_another_process(settings.history_path, 8, read_only=False)
        try:
            during = http.get("/health/ready")
            assert during.status_code == 200, during.text
            assert during.json()["checks"]["history"]["status"] == "busy"
            assert http.post("/api/v1/analyses", json=OPPORTUNITY).status_code == 201
        finally:
            holder.wait(timeout=30)
