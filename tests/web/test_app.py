"""The web app served for real: uvicorn on a free loopback port in a thread, spoken to over HTTP.

The served app needs the analysis engine; the fixture fails (not skips) with a clear message without it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from oppscope.config import load_settings
from oppscope.web.app import create_app
from tests.examples import OPPORTUNITY as EXAMPLE

SAMPLE_ROWS = 600
OPPORTUNITY = {**EXAMPLE, "id": "web-1"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server, lifespan included, for the duration of the block."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from oppscope.analysis.runtime import prepare_history

    settings = load_settings(data_dir=tmp_path_factory.mktemp("web"), sample_rows=SAMPLE_ROWS)
    prepare_history(settings)
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as http:
        yield http


def test_live(client: httpx.Client) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_reports_the_history(client: httpx.Client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    history = body["checks"]["history"]
    assert history["rows"] > 0
    assert history["snapshot_id"]
    assert history["latency_ms"] >= 0


def test_index_page(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "<title>oppscope</title>" in response.text
    assert 'href="/docs"' in response.text
    assert "projects in the history" in response.text


def test_create_analysis(client: httpx.Client) -> None:
    response = client.post("/api/v1/analyses", json=OPPORTUNITY)
    assert response.status_code == 201, response.text
    analysis = response.json()
    assert analysis["input"]["id"] == "web-1"
    assert analysis["predictions"]["arr"]["low"] <= analysis["predictions"]["arr"]["high"]
    assert analysis["confidence"]["level"] in {"HIGH", "MEDIUM", "LOW"}
    assert analysis["provenance"]["history_rows"] > 0


def test_invalid_analysis_request_is_a_structured_422(client: httpx.Client) -> None:
    body = {**OPPORTUNITY, "customer_name": " ", "close_date": "someday", "colour": "blue"}
    response = client.post("/api/v1/analyses", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"]
    assert {e["field"] for e in error["details"]["errors"]} == {"customer_name", "close_date", "colour"}


def test_malformed_json_is_a_structured_422(client: httpx.Client) -> None:
    response = client.post("/api/v1/analyses", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_route_is_a_structured_404(client: httpx.Client) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_not_ready_without_history(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "empty", load_sample_if_empty=False)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/health/live").status_code == 200
        ready = http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        refused = http.post("/api/v1/analyses", json=OPPORTUNITY)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"]
