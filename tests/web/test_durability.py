"""Durability: a server killed with SIGKILL loses no analysis it answered 201 for, and a failed state database
is a 503 on every interface, never a claimed save."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import text

from oppscope.analyses.sql_store import SqlAnalysisStore
from oppscope.state.db import state_engine
from oppscope.state.migrate import current_revision, head_revision
from oppscope.web.app import create_app
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, free_port, serving, wait_until_answering


def test_a_committed_analysis_survives_kill_9(web_settings: WebSettings) -> None:
    """A server killed with SIGKILL right after answering 201 has the analysis on disk."""
    settings = web_settings()
    port = free_port()
    env = {**os.environ, "OPPSCOPE_SAMPLE_ROWS": str(settings.sample_rows)}
    command = Path(sys.executable).parent / "oppscope"
    server = subprocess.Popen(
        [str(command), "serve", "--data-dir", str(settings.data_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(server, f"{url}/health/ready")
        ids = [
            httpx.post(f"{url}/api/v1/analyses", json={**OPPORTUNITY, "opportunity_name": f"Kill {i}"}, timeout=60)
            .json()["id"]
            for i in range(5)
        ]
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    with state_engine(settings) as engine:
        assert current_revision(engine) == head_revision()
        store = SqlAnalysisStore(engine)
        for analysis_id in ids:
            saved = store.get(analysis_id)
            assert saved is not None, analysis_id
            assert saved.analysis["input"]["opportunity_name"].startswith("Kill")
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_a_failed_state_database_is_a_503_everywhere_and_claims_no_save(web_settings: WebSettings) -> None:
    import sqlite3

    settings = web_settings()
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("/api/v1/analyses", json=OPPORTUNITY).status_code == 201
        with sqlite3.connect(settings.state_path) as broken:  # the backend fails under the running server
            broken.execute("ALTER TABLE analyses RENAME TO analyses_gone")
        api = http.post("/api/v1/analyses", json=OPPORTUNITY)
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "state_unavailable"
        assert api.headers["retry-after"]
        assert http.get("/api/v1/analyses").status_code == 503
        original = {
            "CustomerName": "Acme",
            "region": "Germany",
            "closeDate": "2026-03-01",
            "oppName": "SAP move",
            "oppDescription": "Migrate SAP",
        }
        compat = http.post("/api/analyze", json=original)
        assert (compat.status_code, compat.json()["error"]["code"]) == (503, "state_unavailable")
        assert compat.json()["message"]
        ready = http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["state_database"]["status"] == "error"
        page = http.get("/analyses")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
