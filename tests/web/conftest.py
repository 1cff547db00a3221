"""Web fixtures: a prepared data directory (sample history, fitted engine, migrated state database) and real
uvicorn servers on free loopback ports, spoken to over HTTP.

The data directory is prepared once per session; every server gets its own copy, so tests that write
(analyses, tokens) never see each other's rows, and none pays for fitting again.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from oppscope.config import Settings, load_settings
from oppscope.web.app import create_app

SAMPLE_ROWS = 600


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server, lifespan included, for the duration of the block."""
    port = free_port()
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


def wait_until_answering(server: subprocess.Popen[bytes], url: str, timeout_s: float = 120) -> None:
    """Until ``url`` answers 200, failing the test if the server process exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, f"{url} did not answer 200"
        time.sleep(0.2)


def migrate(settings: Settings) -> None:
    from oppscope.state.db import state_engine
    from oppscope.state.migrate import upgrade

    with state_engine(settings) as engine:
        upgrade(engine)


@pytest.fixture(scope="session")
def prepared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample history, its fitted engine in the model cache, and a migrated, empty state database."""
    from oppscope.engines.loading import load_engine, prepare_history

    data_dir = tmp_path_factory.mktemp("web-data")
    settings = load_settings(data_dir=data_dir, sample_rows=SAMPLE_ROWS)
    prepare_history(settings)
    load_engine(settings)
    migrate(settings)
    return data_dir


WebSettings = Callable[..., Settings]


@pytest.fixture
def web_settings(prepared_data_dir: Path, tmp_path: Path) -> WebSettings:
    """Settings over a fresh copy of the prepared data directory; keyword arguments override any setting."""

    def make(**overrides: Any) -> Settings:
        data_dir = tmp_path / f"data-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(prepared_data_dir, data_dir)
        return load_settings(data_dir=data_dir, sample_rows=SAMPLE_ROWS, **overrides)

    return make


@pytest.fixture(scope="module")
def module_server(prepared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One open (development profile) server per test module, over its own copy of the data."""
    data_dir = tmp_path_factory.mktemp("module-data") / "data"
    shutil.copytree(prepared_data_dir, data_dir)
    with serving(create_app(load_settings(data_dir=data_dir, sample_rows=SAMPLE_ROWS))) as url:
        yield url


@pytest.fixture
def client(module_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=module_server, timeout=120) as http:
        yield http


def create_token(settings: Settings, *scopes: str, name: str = "test") -> str:
    """A real token, made the way `oppscope tokens create` makes one."""
    from oppscope.access.scopes import Scope
    from oppscope.wiring import open_services

    with open_services(settings) as services:
        token, _ = services.tokens.create(name, {Scope(s) for s in scopes})
    return token
