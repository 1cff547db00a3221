"""The multiprocess directory at start: what dead processes left is wiped, a live process' files are kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oppscope.config import load_settings
from oppscope.ops.multiproc import MULTIPROC_ENV, dead_pids, file_pid, prepare_multiproc_dir


def test_start_wipes_the_files_of_dead_processes_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "")  # unset for the code, and restored after the test
    settings = load_settings(data_dir=tmp_path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    directory = settings.ops_dir / "prometheus"
    directory.mkdir(parents=True)
    for name in (f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{os.getpid()}.db", "notes.txt"):
        (directory / name).write_bytes(b"x")
    assert dead_pids(directory) == {dead}

    assert prepare_multiproc_dir(settings) == directory.absolute()
    assert sorted(p.name for p in directory.iterdir()) == [f"counter_{os.getpid()}.db", "notes.txt"]
    assert os.environ[MULTIPROC_ENV] == str(directory.absolute())


def test_a_configured_directory_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path / "elsewhere"))
    assert prepare_multiproc_dir(load_settings(data_dir=tmp_path / "data")) == tmp_path / "elsewhere"
    assert file_pid(Path("histogram_42.db")) == 42 and file_pid(Path("other.db")) is None
