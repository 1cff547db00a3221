"""``oppscope check`` against real data directories and a real server on loopback: each suite passes on a healthy
deployment and fails, naming the cause, on a broken one."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from oppscope.config import Settings
from oppscope.web.app import create_app
from tests.web.conftest import WebSettings, create_token, serving

runner = CliRunner()


def check(settings: Settings, suite: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    from oppscope.cli.main import app

    result = runner.invoke(app, ["check", suite, *args, "--data-dir", str(settings.data_dir), "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in body["checks"]}


def test_connectivity_reaches_every_backend_and_fails_without_the_history(web_settings: WebSettings) -> None:
    settings = web_settings()
    with serving(create_app(settings)) as url:
        code, body = check(settings, "connectivity", "--url", url)
    assert code == 0 and body["status"] == "ok"
    assert statuses(body) == {
        "history": "ok",
        "state_database": "ok",
        "disk": "ok",
        "model_cache": "ok",
        "service": "ok",
    }
    settings.history_path.unlink()
    code, body = check(settings, "connectivity")
    history = next(c for c in body["checks"] if c["name"] == "history")
    assert code == 1 and history["status"] == "fail" and "history" in history["detail"].lower()


def test_endpoints_answer_as_documented_open_and_with_tokens(web_settings: WebSettings) -> None:
    settings = web_settings()
    with serving(create_app(settings)) as url:
        code, body = check(settings, "endpoints", "--url", url)
    assert code == 0, body
    assert len(body["checks"]) >= 15 and set(statuses(body).values()) == {"ok"}

    secured = web_settings(require_auth=True)
    token = create_token(secured, "read", "write", "ops")
    with serving(create_app(secured)) as url:
        code, body = check(secured, "endpoints", "--url", url)
        assert code == 0 and "warn" in statuses(body).values()  # without a token: protected routes say 401
        assert statuses(body)["GET /api/v1/history/stats"] == "warn"
        code, body = check(secured, "endpoints", "--url", url, "--token", token)
        assert code == 0 and set(statuses(body).values()) == {"ok"}, body
        code, body = check(secured, "endpoints", "--url", url, env={"OPPSCOPE_TOKEN": "ops_bad_token"})
    assert code == 1 and statuses(body)["GET /api/v1/history/stats"] == "fail"


def test_permissions_flag_a_world_readable_state_database_and_missing_tokens(web_settings: WebSettings) -> None:
    settings = web_settings()
    settings.state_path.chmod(0o644)
    code, body = check(settings, "permissions")
    assert code == 0 and statuses(body)["state_database_private"] == "warn"  # development: a warning
    secured = web_settings(profile="staging")
    secured.state_path.chmod(0o644)
    code, body = check(secured, "permissions", "--profile", "staging")
    assert code == 1
    assert statuses(body)["state_database_private"] == "fail" and statuses(body)["tokens"] == "fail"
    for path in secured.data_dir.glob("state.sqlite*"):
        path.chmod(0o600)
    create_token(secured, "read", "write")
    code, body = check(secured, "permissions", "--profile", "staging")
    assert code == 0 and statuses(body)["tokens"] == "warn"  # nobody holds the ops scope
    assert statuses(body)["data_dir"] == "ok" and statuses(body)["state_database_private"] == "ok"


def test_infrastructure_names_the_port_owner(web_settings: WebSettings) -> None:
    settings = web_settings()
    with serving(create_app(settings)) as url:
        port = url.rsplit(":", 1)[1]
        code, body = check(settings, "infrastructure", env={"OPPSCOPE_PORT": port})
    assert code == 0 and "served by oppscope" in next(c["detail"] for c in body["checks"] if c["name"] == "port")
    assert statuses(body)["schema_revision"] == "ok" and statuses(body)["data_files"] == "ok"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        code, body = check(settings, "infrastructure", env={"OPPSCOPE_PORT": str(squatter.getsockname()[1])})
    assert code == 1 and statuses(body)["port"] == "fail"


def test_e2e_makes_a_real_analysis_and_reads_it_back(web_settings: WebSettings) -> None:
    settings = web_settings()
    with serving(create_app(settings)) as url:
        code, body = check(settings, "e2e", "--url", url)
        assert code == 0, body
        analysis_id = body["checks"][0]["data"]["id"]
        saved = httpx.get(f"{url}/api/v1/analyses/{analysis_id}").json()
    assert saved["input"]["customer_name"] == "oppscope check"
    code, body = check(settings, "e2e", "--url", "http://127.0.0.1:9")
    assert code == 1 and "ConnectError" in body["checks"][0]["detail"]


def test_performance_compares_a_short_load_with_the_baselines(web_settings: WebSettings, tmp_path: Path) -> None:
    settings = web_settings()
    with serving(create_app(settings)) as url:
        code, body = check(settings, "performance", "--url", url, "--duration", "3s", "--concurrency", "2")
        assert code == 0, body
        load = body["checks"][0]["data"]
        assert load["requests"] > 0 and load["errors"] == 0 and load["statuses"] == {"201": load["requests"]}
        assert load["duration_s"] < 30
        code, body = check(
            settings, "performance", "--url", url, "--duration", "2s", env={"OPPSCOPE_BASELINE_P95_S": "0.0001"}
        )
    assert code == 1 and statuses(body) == {"p95": "fail", "throughput": "ok", "error_rate": "ok"}
    code, body = check(settings, "performance", "--url", "ftp://example", "--duration", "1s")
    assert code == 2 and body["error"]["code"] == "invalid_input"
