"""Durability: a server killed with SIGKILL loses no analysis it answered 201 for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from oppscope.analyses.sql_store import SqlAnalysisStore
from oppscope.state.db import state_engine
from oppscope.state.migrate import current_revision, head_revision
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, free_port


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
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
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
