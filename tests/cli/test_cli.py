"""The ``oppscope`` command end to end: Typer's runner on ``app``, real DuckDB files in temporary directories.

Tests that need the analysis engine say so through the ``engine_data_dir`` fixture, which fails (not skips)
with a clear message when the engine is missing.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

from oppscope.cli.main import app
from oppscope.history.schema import COLUMN_NAMES
from tests.examples import OPPORTUNITY

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ROWS = 600
runner = CliRunner()

COMMANDS = [
    [],
    ["history"],
    ["history", "import"],
    ["history", "stats"],
    ["history", "sample"],
    ["analyze"],
    ["serve"],
    ["backtest"],
    ["version"],
    ["health"],
    ["db"],
    ["db", "upgrade"],
    ["db", "current"],
    ["tokens"],
    ["tokens", "create"],
    ["tokens", "list"],
    ["tokens", "revoke"],
]


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """Commands configure structlog process-wide; give the next test the defaults back."""
    yield
    structlog.reset_defaults()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def stdout_json(result: Result) -> Any:
    return json.loads(result.stdout)


def project_row(i: int, **overrides: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMN_NAMES, "")
    row.update(
        {
            "activity_name": "Migration",
            "project_type": "Migration",
            "customer_name": f"Customer {i}",
            "annual_run_rate_usd": str(100_000 + i * 1_000),
            "customer_segment": "Enterprise",
            "industry": "Manufacturing",
            "close_date": str(1_700_000_000 + i * 86_400),
            "planned_delivery_start_date": "2024-01-15",
            "planned_delivery_end_date": "2024-07-15",
            "migration_phase": "Mobilize",
            "opportunity_region": "EMEA",
            "country": "Germany",
            "opportunity_name": f"Data centre exit {i}",
            "description": "Move the ERP landscape to AWS",
            "partner_name": "Example Partner",
            "service1": "Amazon EC2",
            "monthly $ service1": "5000",
            "upfront $ service1": "0",
        }
    )
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMN_NAMES)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "oppscope")
def test_help_works_for_every_command(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, sub in getattr(command, "commands", {}).items():
        yield from _leaves(sub, (*path, name)) if hasattr(sub, "commands") else [((*path, name), sub)]


# The commands that leave out some shared options: the version needs no settings; the exports write files.
_WITHOUT = {
    ("version",): {"--profile", "--data-dir"},
    ("alerts", "export"): {"--json"},
    ("dashboard", "export"): {"--json"},
}


def test_every_command_takes_the_shared_options_after_its_name() -> None:
    import typer

    leaves = dict(_leaves(typer.main.get_command(app)))
    assert len(leaves) > 50 and set(_WITHOUT) <= set(leaves)
    for path, command in leaves.items():
        options = {opt for param in command.params for opt in param.opts}
        expected = {"--profile", "--data-dir", "--json"} - _WITHOUT.get(path, set())
        assert options & {"--profile", "--data-dir", "--json"} == expected, path


def test_the_shared_options_work_before_and_after_the_command(tmp_path: Path) -> None:
    """Before (on ``oppscope``) or after (on the command): the same state; the value closest to the command wins."""
    migrated, empty = tmp_path / "migrated", tmp_path / "empty"
    assert invoke("db", "upgrade", "--data-dir", migrated).exit_code == 0
    before = invoke("--data-dir", migrated, "--json", "tokens", "list")
    after = invoke("tokens", "list", "--data-dir", migrated, "--json")
    closest = invoke("--data-dir", empty, "tokens", "list", "--data-dir", migrated, "--json")
    for result in (before, after, closest):
        assert result.exit_code == 0 and stdout_json(result) == []
    refused = invoke("--data-dir", migrated, "--json", "tokens", "list", "--data-dir", empty)
    assert refused.exit_code == 1 and stdout_json(refused)["error"]["code"] == "state_not_migrated"
    bad = invoke("--profile", "nope", "tokens", "list", "--json")
    assert bad.exit_code == 2 and stdout_json(bad)["error"]["code"] == "invalid_settings"


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from oppscope.cli.main import app\n"
        "try:\n    app(['history', 'import', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('duckdb', 'numpy', 'fastapi', 'uvicorn', 'sqlalchemy', 'alembic', 'oppscope.engines.loading')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert "LOADED []" in done.stdout


def test_version(tmp_path: Path) -> None:
    result = invoke("version", "--json")
    assert result.exit_code == 0
    assert stdout_json(result)["version"]


def test_import_then_stats(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "projects.csv", [project_row(i) for i in range(3)])
    data_dir = tmp_path / "data"

    imported = invoke("--data-dir", data_dir, "--json", "history", "import", source)
    assert imported.exit_code == 0, imported.output
    report = stdout_json(imported)
    assert report["rows_imported"] == 3
    assert report["committed"] is True

    stats = invoke("history", "stats", "--json", "--data-dir", data_dir)
    assert stats.exit_code == 0, stats.output
    assert stdout_json(stats)["rows"] == 3

    table = invoke("--data-dir", data_dir, "history", "stats")
    assert table.exit_code == 0
    assert "Manufacturing" in table.stdout


def test_first_import_replaces_the_auto_loaded_sample(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert invoke("--data-dir", data_dir, "history", "sample", "--rows", "200").exit_code == 0
    source = write_csv(tmp_path / "projects.csv", [project_row(i) for i in range(3)])
    assert invoke("--data-dir", data_dir, "history", "import", source).exit_code == 0
    assert stdout_json(invoke("--data-dir", data_dir, "--json", "history", "stats"))["rows"] == 3
    # From then on the history is the user's own: a second import appends.
    assert invoke("--data-dir", data_dir, "history", "import", source).exit_code == 0
    assert stdout_json(invoke("--data-dir", data_dir, "--json", "history", "stats"))["rows"] == 6


def test_import_skips_bad_rows_and_reports_them(tmp_path: Path) -> None:
    rows = [project_row(0), project_row(1, close_date="yesterday"), project_row(2)]
    source = write_csv(tmp_path / "projects.csv", rows)

    result = invoke("--data-dir", tmp_path / "data", "history", "import", source, "--json", "--skip-bad-rows")
    assert result.exit_code == 0, result.output
    report = stdout_json(result)
    assert (report["rows_imported"], report["rows_rejected"]) == (2, 1)
    assert report["errors"][0]["row"] == 2
    assert report["errors"][0]["column"] == "close_date"

    readable = invoke("--data-dir", tmp_path / "data2", "history", "import", source, "--skip-bad-rows")
    assert readable.exit_code == 0
    assert "close_date" in readable.stdout


def test_import_refuses_a_file_with_bad_rows_by_default(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "projects.csv", [project_row(0), project_row(1, close_date="yesterday")])

    result = invoke("--data-dir", tmp_path / "data", "history", "import", source)
    assert result.exit_code == 1
    assert "close_date" in result.stdout and "--skip-bad-rows" in result.stderr


def test_import_rejecting_all_commits_nothing_and_fails(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "projects.csv", [project_row(0), project_row(1, customer_name="")])

    result = invoke("--data-dir", tmp_path / "data", "--json", "history", "import", source, "--reject-all-on-error")
    assert result.exit_code == 1
    report = stdout_json(result)
    assert report["committed"] is False
    assert report["rows_imported"] == 0


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("missing.csv", None, "file_not_found"),
        ("notes.txt", "hello\n", "unknown_format"),
        ("wrong.csv", "foo,bar\n1,2\n", "missing_columns"),
    ],
)
def test_invalid_import_file_gives_structured_error(tmp_path: Path, name: str, content: str | None, code: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")

    result = invoke("--data-dir", tmp_path / "data", "--json", "history", "import", path)
    assert result.exit_code == 2, result.output
    error = stdout_json(result)["error"]
    assert error["code"] == code
    assert error["message"]
    assert isinstance(error["details"], dict)

    readable = invoke("--data-dir", tmp_path / "data", "history", "import", path)
    assert readable.exit_code == 2
    assert f"error [{code}]" in readable.stderr
    assert "Traceback" not in readable.output


def test_stats_without_history_fails_cleanly(tmp_path: Path) -> None:
    result = invoke("--data-dir", tmp_path / "empty", "--json", "history", "stats")
    assert result.exit_code == 1
    assert stdout_json(result)["error"]["code"]


def test_bad_profile_is_an_input_error(tmp_path: Path) -> None:
    result = invoke("--profile", "nope", "--json", "history", "stats")
    assert result.exit_code == 2
    assert stdout_json(result)["error"]["code"] == "invalid_settings"


def test_analyze_reports_invalid_fields_before_running_anything(tmp_path: Path) -> None:
    result = invoke(
        "--data-dir", tmp_path / "data", "analyze", "--json",
        "--customer-name", " ", "--region", "Germany", "--close-date", "tomorrow",
    )  # fmt: skip
    assert result.exit_code == 2
    error = stdout_json(result)["error"]
    assert error["code"] == "invalid_input"
    fields = {e["field"] for e in error["details"]["errors"]}
    assert {"customer_name", "close_date", "opportunity_name"} <= fields


def test_analyze_batch_with_missing_input_file_exits_2(tmp_path: Path) -> None:
    result = invoke("analyze", "--json", "--input", tmp_path / "nope.jsonl", "--output", tmp_path / "out.jsonl")
    assert result.exit_code == 2
    assert stdout_json(result)["error"]["code"] == "file_not_found"
    assert not (tmp_path / "out.jsonl").exists()


# -- tests that need the analysis engine ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history of the generated sample, loaded through the CLI itself."""
    data_dir = tmp_path_factory.mktemp("engine")
    result = invoke("--data-dir", data_dir, "--json", "history", "sample", "--rows", str(SAMPLE_ROWS))
    assert result.exit_code == 0, result.output
    assert stdout_json(result)["rows_imported"] > 0
    return data_dir




def test_engine_analyze_batch_keeps_one_line_per_input_in_order(engine_data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "opportunities.jsonl"
    lines = [
        json.dumps({**OPPORTUNITY, "id": 7, "colour": "blue"}),
        "{not json",
        json.dumps({**OPPORTUNITY, "id": "b", "customer_name": ""}),
        "",
        json.dumps({**OPPORTUNITY, "id": "last"}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "results.jsonl"

    result = invoke("--data-dir", engine_data_dir, "--json", "analyze", "--input", source, "--output", target)
    assert result.exit_code == 0, result.output
    assert stdout_json(result) == {
        "input": str(source),
        "output": str(target),
        "total": 5,
        "ok": 2,
        "errors": 3,
    }

    out = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [o["input_id"] for o in out] == [7, None, "b", None, "last"]
    assert out[0]["analysis"]["input"]["customer_name"] == "Acme Manufacturing"
    assert any("colour" in w for w in out[0]["analysis"]["warnings"])
    assert out[1]["error"]["code"] == "invalid_json"
    assert out[2]["error"]["code"] == "invalid_input"
    assert [e["field"] for e in out[2]["error"]["details"]["errors"]] == ["customer_name"]
    assert out[3]["error"]["code"] == "empty_line"
    assert out[4]["analysis"]["predictions"]["arr"]["value"] >= 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_engine_analyze_single_from_flags_and_file(engine_data_dir: Path, tmp_path: Path) -> None:
    flags = ["--customer-name", "Acme", "--region", "eu-central-1", "--close-date", "2025-06-30"]
    result = invoke("--data-dir", engine_data_dir, "analyze", *flags, "--opportunity-name", "Data lake", "--json")
    assert result.exit_code == 0, result.output
    analysis = stdout_json(result)
    assert analysis["input"]["opportunity_name"] == "Data lake"
    assert analysis["similar_projects"]

    source = tmp_path / "opportunity.json"
    source.write_text(json.dumps(OPPORTUNITY), encoding="utf-8")
    readable = invoke("--data-dir", engine_data_dir, "analyze", "--json-file", source)
    assert readable.exit_code == 0, readable.output
    headings = ("Predictions", "Confidence", "Top services", "Most similar projects", "Findings", "Rationale",
                "Risk factors", "Architecture", "Funding", "Follow-on", "Methodology", "Validation")
    for heading in headings:
        assert heading in readable.stdout


def test_engine_backtest(engine_data_dir: Path) -> None:
    result = invoke("--data-dir", engine_data_dir, "backtest", "--test-fraction", "0.2", "--json")
    assert result.exit_code == 0, result.output
    report = stdout_json(result)
    scores = {m["method"]: m for m in report["methods"]}
    assert scores["oppscope"]["arr_mdape"] < scores["global median"]["arr_mdape"]
    assert "original (relevance SQL, top 200)" in scores
    # The sample was loaded by `history sample`, so the generator's truth is known and reported.
    assert report["best_achievable"]["arr_mdape"] > 0
    assert invoke("--data-dir", engine_data_dir, "backtest", "--test-fraction", "1.5").exit_code == 2


def test_analyze_masks_secrets_in_free_text(engine_data_dir: Path, tmp_path: Path) -> None:
    noted = {**OPPORTUNITY, "description": "Call cfo@acme.example, password: hunter2"}
    single = invoke("--data-dir", engine_data_dir, "--json", "analyze", *(
        arg for key, value in noted.items() for arg in (f"--{key.replace('_', '-')}", str(value))))
    assert single.exit_code == 0, single.output
    assert stdout_json(single)["input"]["description"] == "Call [email], password: [secret]"
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps(noted) + "\n", encoding="utf-8")
    batch = invoke("--data-dir", engine_data_dir, "--json", "analyze", "--input", source, "--output", target)
    assert batch.exit_code == 0, batch.output
    assert "cfo@acme.example" not in target.read_text(encoding="utf-8")
