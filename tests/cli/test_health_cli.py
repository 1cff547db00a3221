"""``oppscope health``: in-process from the wiring, exit 0 when ready and 1 naming the failing check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app

runner = CliRunner()


def _run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("health")
    assert _run("history", "sample", "--rows", "300", "--data-dir", data)[0] == 0
    assert _run("db", "upgrade", "--data-dir", data)[0] == 0
    return data


def test_ready_with_every_check(data_dir: Path) -> None:
    code, out = _run("health", "--data-dir", data_dir, "--json")
    body = json.loads(out)
    assert (code, body["status"], body["failing"]) == (0, "ready", [])
    assert set(body["checks"]) == {"history", "analysis_engine", "state_database", "disk"}
    assert body["checks"]["history"]["rows"] == 300


def test_quick_skips_the_engine(data_dir: Path) -> None:
    code, out = _run("health", "--quick", "--data-dir", data_dir, "--json")
    assert code == 0
    assert "analysis_engine" not in json.loads(out)["checks"]


def test_unhealthy_exits_1_and_names_the_check(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPPSCOPE_DISK_FREE_MIN_PERCENT", "100")
    code, out = _run("health", "--quick", "--data-dir", data_dir, "--json")
    assert (code, json.loads(out)["failing"]) == (1, ["disk"])
    code, out = _run("health", "--quick", "--data-dir", data_dir)
    assert code == 1
    assert "low" in out


def test_an_unmigrated_state_database_is_not_ready(tmp_path: Path) -> None:
    code, out = _run("health", "--quick", "--data-dir", tmp_path, "--json")
    body = json.loads(out)
    assert code == 1
    assert body["checks"]["state_database"]["error"]["code"] == "state_not_migrated"


def test_an_unreachable_server_is_a_structured_failure() -> None:
    code, out = _run("health", "--url", "http://127.0.0.1:9", "--json")
    assert (code, json.loads(out)["error"]["code"]) == (1, "server_unreachable")
