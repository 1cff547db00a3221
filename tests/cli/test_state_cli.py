"""``oppscope db`` and ``oppscope tokens`` through Typer's runner on real SQLite files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from oppscope.access.interfaces import TokenError
from oppscope.access.sql_tokens import SqlTokenStore
from oppscope.cli.main import app
from oppscope.config import load_settings
from oppscope.ops.logging import log_files
from oppscope.state.db import state_engine

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_db_upgrade_twice_then_current(tmp_path: Path) -> None:
    code, out = _run("db", "current", "--data-dir", str(tmp_path), "--json")
    assert code == 1
    body = json.loads(out)
    assert (body["current"], body["required"], body["up_to_date"], body["compatible"]) == (None, "0001", False, False)
    code, out = _run("db", "upgrade", "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert json.loads(out)["changed"] is True
    code, out = _run("db", "upgrade", "--data-dir", str(tmp_path), "--json")
    assert (code, json.loads(out)["changed"]) == (0, False)
    assert _run("db", "current", "--data-dir", str(tmp_path))[0] == 0


def test_tokens_need_a_migrated_database(tmp_path: Path) -> None:
    code, out = _run("tokens", "list", "--data-dir", str(tmp_path), "--json")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "state_not_migrated"


def test_token_lifecycle(tmp_path: Path) -> None:
    data = str(tmp_path)
    _run("db", "upgrade", "--data-dir", data)
    code, out = _run("tokens", "create", "--name", "reporting", "--scope", "read", "--data-dir", data, "--json")
    assert code == 0
    created = json.loads(out)
    token = created["token"]
    assert created["scopes"] == ["read"]
    with state_engine(load_settings(data_dir=tmp_path)) as engine:
        assert token not in (tmp_path / "state.sqlite").read_bytes().decode("latin-1")  # only the hash is stored
        principal = SqlTokenStore(engine).authenticate(token)
        assert principal.id == f"token:{created['id']}"
        listed = json.loads(_run("tokens", "list", "--data-dir", data, "--json")[1])
        assert [(t["id"], t["active"], t["last_used_at"] is not None) for t in listed] == [(created["id"], True, True)]
        assert _run("tokens", "revoke", created["id"], "--data-dir", data)[0] == 0
        code, out = _run("tokens", "revoke", created["id"], "--data-dir", data, "--json")
        assert (code, json.loads(out)["error"]["code"]) == (2, "token_already_revoked")
        code, out = _run("tokens", "revoke", "nope", "--data-dir", data, "--json")
        assert (code, json.loads(out)["error"]["code"]) == (2, "token_not_found")
        try:
            SqlTokenStore(engine).authenticate(token)
            raise AssertionError("a revoked token authenticated")
        except TokenError as exc:
            assert exc.code == "invalid_token"


def test_token_create_validates_its_input(tmp_path: Path) -> None:
    _run("db", "upgrade", "--data-dir", str(tmp_path))
    result = runner.invoke(app, ["tokens", "create", "--name", "x", "--scope", "admin", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    code, out = _run("tokens", "create", "--name", " ", "--data-dir", str(tmp_path), "--json")
    assert (code, json.loads(out)["error"]["code"]) == (2, "invalid_input")


def test_serve_refuses_an_open_server_on_a_public_interface(tmp_path: Path) -> None:
    code, out = _run("serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path), "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "open_remote_bind"


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    code, out = _run("serve", "--data-dir", str(tmp_path), "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "state_not_migrated"
    assert "oppscope db upgrade" in error["message"]


def test_commands_on_the_state_database_keep_alembic_out_of_the_log(tmp_path: Path) -> None:
    """Alembic sets up its plugins and opens a migration context on every such command, and tells at info: in a
    process of its own (the import order of a real run), at the most verbose level, none of it reaches stderr or
    the log file."""
    env = {**os.environ, "OPPSCOPE_LOG_LEVEL": "debug"}
    for command in (["db", "upgrade"], ["tokens", "list"], ["db", "current"]):
        done = subprocess.run(
            [sys.executable, "-c", "from oppscope.cli.main import app; app()", "--data-dir", str(tmp_path), *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "alembic" not in done.stderr, done.stderr
    settings = load_settings(data_dir=tmp_path)
    records = [json.loads(line) for _, path in log_files(settings) for line in path.read_text().splitlines()]
    assert not [r for r in records if str(r.get("logger", "")).startswith("alembic")]
