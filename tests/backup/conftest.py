"""Backup fixtures: the web tests' prepared data directory (sample history, fitted model, migrated state), copied
per test, with its backup directory beside it, and analyses saved through a real server's API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app
from tests.examples import OPPORTUNITY
from tests.web import conftest as web

prepared_data_dir = web.prepared_data_dir
web_settings = web.web_settings

runner = CliRunner()

Cli = Callable[..., tuple[int, Any]]


def cli(*args: str) -> tuple[int, Any]:
    """Run ``oppscope ARGS --json`` in this process; the exit code and the parsed JSON answer."""
    result = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def post_analyses(url: str, names: list[str]) -> list[dict[str, Any]]:
    """Analyses saved through the API (201 each), as the API answered them."""
    saved = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for name in names:
            answer = client.post("/api/v1/analyses", json={**OPPORTUNITY, "opportunity_name": name})
            assert answer.status_code == 201, answer.text
            saved.append(answer.json())
    return saved


@pytest.fixture
def run_cli() -> Cli:
    return cli
