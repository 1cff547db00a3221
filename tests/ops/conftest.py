"""Ops fixtures: the web tests' prepared data directory, and the real ``oppscope serve --workers 2`` over a copy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from oppscope.config import Settings
from tests.web import conftest as web
from tests.web.conftest import WebSettings, free_port

prepared_data_dir = web.prepared_data_dir
web_settings = web.web_settings

# Short intervals so a test sees both workers' numbers within a second or two; the cache on, as in production.
FAST_TELEMETRY = {
    "OPPSCOPE_TIMESERIES_FLUSH_SECONDS": "0.5",
    "OPPSCOPE_RESOURCE_SAMPLE_SECONDS": "1",
    "OPPSCOPE_ANALYSIS_CACHE_ENABLED": "true",
}


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings
    env: dict[str, str]  # what a CLI command needs to read the same settings


@pytest.fixture
def served(web_settings: WebSettings, tmp_path: Path) -> Iterator[Served]:
    """``oppscope serve --workers 2`` on a free loopback port, ready, over its own copy of the data."""
    settings = web_settings()
    port = free_port()
    env = {**os.environ, **FAST_TELEMETRY, "OPPSCOPE_SAMPLE_ROWS": str(settings.sample_rows)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    output = (tmp_path / "serve.out").open("wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "oppscope"),
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--data-dir",
            str(settings.data_dir),
        ],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 180, 0
        while ready < 4:  # several answers in a row, so both workers are likely up
            try:
                ready = ready + 1 if httpx.get(f"{url}/health/live", timeout=5).status_code == 200 else 0
            except httpx.HTTPError:
                ready = 0
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.25)
        yield Served(url, settings, {**env, "OPPSCOPE_DATA_DIR": str(settings.data_dir)})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        output.close()
