"""The directory where prometheus-client's multiprocess mode keeps each worker's values.

prometheus-client picks its storage when it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``; so ``oppscope
serve`` calls ``prepare_multiproc_dir`` before anything imports it (this module does not), and the worker
processes inherit the variable. Files of processes that no longer run are removed at start: a restart begins
from zero, while another instance serving the same data directory keeps its own live files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil

from oppscope.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID = re.compile(r"_(\d+)\.db$")


def multiproc_dir(settings: Settings) -> Path:
    configured = os.environ.get(MULTIPROC_ENV)
    return Path(configured) if configured else settings.ops_dir / "prometheus"


def file_pid(path: Path) -> int | None:
    """The process a multiprocess file belongs to (``counter_1234.db``, ``gauge_livesum_1234.db``)."""
    match = _PID.search(path.name)
    return int(match.group(1)) if match else None


def dead_pids(directory: Path) -> set[int]:
    """Processes that left files behind and are gone."""
    pids = {pid for path in directory.glob("*.db") if (pid := file_pid(path)) is not None}
    return {pid for pid in pids if not psutil.pid_exists(pid)}


def prepare_multiproc_dir(settings: Settings) -> Path:
    """Create the directory, wipe what dead processes left there, and point the environment at it."""
    directory = multiproc_dir(settings).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    gone = dead_pids(directory)
    for path in directory.glob("*.db"):
        if file_pid(path) in gone:
            path.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory
