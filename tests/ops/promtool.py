"""Run Debian's promtool on generated files; a missing promtool fails the test (make test installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail("promtool is not installed: the alert tests need Debian's `prometheus` package on PATH")
    return subprocess.run(
        [executable, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
