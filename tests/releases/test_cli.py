"""The release commands' contract without a running service: listing, confirmation, structured refusals."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.releases.store import Releases
from tests.releases.test_store import PROJECT, fake_release

runner = CliRunner()


def _run(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, list(args))
    return result.exit_code, json.loads(result.stdout)


def test_releases_list_shows_the_links(tmp_path: Path) -> None:
    releases = Releases(tmp_path / "releases")
    first, second = fake_release(releases, 1), fake_release(releases, 2)
    releases.promote(first)
    releases.promote(second)
    code, body = _run("releases", "list", "--data-dir", str(tmp_path / "data"), "--json")
    assert code == 0
    assert (body["current"], body["previous"], body["root"]) == (second, first, str(releases.root))
    assert [r["id"] for r in body["releases"]] == [first, second]  # type: ignore[attr-defined]


def test_deploy_asks_for_confirmation_and_needs_the_supervisor(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data"), "--json"]
    code, body = _run("deploy", "--path", str(PROJECT), *data)
    assert (code, body["error"]["code"]) == (2, "confirmation_required")  # type: ignore[index]
    code, body = _run("deploy", "--path", str(PROJECT), "--yes", *data)
    assert (code, body["error"]["code"]) == (1, "supervisor_not_running")  # type: ignore[index]
    code, body = _run("deploy", "--path", str(PROJECT), "--version", "main", "--yes", *data)
    assert (code, body["error"]["code"]) == (2, "invalid_input")  # type: ignore[index]
    code, body = _run("rollback", "--yes", *data)
    assert (code, body["error"]["code"]) == (1, "supervisor_not_running")  # type: ignore[index]
    assert not (tmp_path / "releases").exists() or not any((tmp_path / "releases").iterdir())
