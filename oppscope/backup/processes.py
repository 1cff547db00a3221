"""Which processes use a data directory: the guard that keeps a restore from pulling files from under a server.

A server (``oppscope serve``, its workers, a supervised instance, the continuous backup's litestream) keeps the
state database open, so the open file descriptors in ``/proc`` find it however it was started; the
supervisor's pid file finds a daemon between its instances too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from oppscope.config import Settings

PROC: Final = Path("/proc")
SUPERVISOR_PID: Final = "supervisor.pid"


def processes_using(settings: Settings) -> list[int]:
    """Pids (other than this process) with the state database open, plus a live supervisor's."""
    state = settings.state_path.resolve()
    files = (str(state), f"{state}-wal", f"{state}-shm")
    # A server whose data directory was deleted under it still holds the files, shown as "<path> (deleted)".
    watched = {*files, *(f"{f} (deleted)" for f in files)}
    pids: set[int] = set()
    for entry in PROC.iterdir() if PROC.is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = [str(fd.readlink()) for fd in (entry / "fd").iterdir()]
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        if watched.intersection(links):
            pids.add(int(entry.name))
    supervisor = _pid_from(settings.run_path / SUPERVISOR_PID)
    if supervisor is not None and _alive(supervisor):
        pids.add(supervisor)
    return sorted(pids)


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
