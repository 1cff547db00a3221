"""``oppscope history import`` as an operator runs it: a refused file changes nothing that ``history stats``
shows, and the answer names what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

from oppscope.cli.main import app
from oppscope.history.export import write_rows
from tests.history.conftest import make_row

runner = CliRunner()


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _invoke(data_dir: Path, *args: str | Path) -> Result:
    return runner.invoke(app, ["--data-dir", str(data_dir), *map(str, args)], catch_exceptions=False)


def _stats(data_dir: Path) -> Any:
    result = _invoke(data_dir, "--json", "history", "stats")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write_rows([make_row(i) for i in range(50)], tmp_path / "loaded.csv", "csv")
    assert _invoke(data, "history", "import", tmp_path / "loaded.csv").exit_code == 0
    return data


def test_one_bad_value_among_200_rows_refuses_the_replace(data_dir: Path, tmp_path: Path) -> None:
    before = _stats(data_dir)
    rows = [make_row(1000 + i) for i in range(200)]
    rows[116] = make_row(1116, close_date="31/02/2024")
    write_rows(rows, tmp_path / "bad.csv", "csv")

    result = _invoke(data_dir, "history", "import", tmp_path / "bad.csv", "--replace")

    assert result.exit_code == 1
    assert "117" in result.stdout and "close_date" in result.stdout and "31/02/2024" in result.stdout
    assert "history is unchanged" in result.stderr
    assert _stats(data_dir) == before


@pytest.mark.parametrize("name", ["header.csv", "all-bad.parquet"])
def test_a_file_that_commits_no_row_leaves_the_history(data_dir: Path, tmp_path: Path, name: str) -> None:
    before = _stats(data_dir)
    (tmp_path / "header.csv").write_text("customer_name,close_date,opportunity_name\n")
    write_rows([make_row(i, customer_name="") for i in range(20)], tmp_path / "all-bad.parquet", "parquet")

    for flags in ([], ["--skip-bad-rows"], ["--reject-all-on-error"]):
        result = _invoke(data_dir, "--json", "history", "import", tmp_path / name, "--replace", *flags)
        assert result.exit_code == 1, (flags, result.output)
        report = json.loads(result.stdout)
        assert (report["committed"], report["rows_imported"]) == (False, 0)
        assert _stats(data_dir) == before


def test_rollback_from_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    before = _stats(data_dir)
    write_rows([make_row(i) for i in range(7)], tmp_path / "other.csv", "csv")
    assert _invoke(data_dir, "history", "import", tmp_path / "other.csv", "--replace").exit_code == 0
    assert _stats(data_dir)["rows"] == 7

    listed = json.loads(_invoke(data_dir, "--json", "history", "snapshots").stdout)
    assert listed["snapshots"][0] == before["snapshot_id"] and listed["current"] != before["snapshot_id"]
    result = _invoke(data_dir, "--json", "history", "rollback")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"snapshot_id": before["snapshot_id"]}
    assert _stats(data_dir) == before
