"""The maintenance and capacity commands answer --help without loading the heavy modules."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app

COMMANDS = [
    ["maintenance"],
    ["maintenance", "daily"],
    ["maintenance", "weekly"],
    ["maintenance", "monthly"],
    ["maintenance", "emergency"],
    ["capacity"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout, result.output


def test_help_stays_light() -> None:
    code = (
        "import sys\nfrom oppscope.cli.main import app\n"
        "for args in (['maintenance', 'weekly', '--help'], ['capacity', '--help']):\n"
        "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
        "heavy = ('duckdb', 'numpy', 'fastapi', 'httpx', 'sqlalchemy', 'psutil', 'oppscope.maintenance')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in done.stdout
