"""``oppscope backup schedule``: the seed's backup schedule as cron entries, printed or installed.

Daily, weekly and monthly backups and a daily prune, each running this installation's ``oppscope`` with the
profile and directories given, so cron (which starts with an almost empty environment) backs up the same data
directory the service uses. Installing replaces the block between our markers in the user's crontab and keeps
every other line; without ``crontab`` the lines are printed for the operator to install.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from oppscope.backup.manifest import BackupError
from oppscope.config import Settings
from oppscope.errors import ErrorKind

BEGIN: Final = "# BEGIN oppscope backups"
END: Final = "# END oppscope backups"


@dataclass
class ScheduleReport:
    lines: list[str]
    installed: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "installed": self.installed, "reason": self.reason}


def cron_lines(settings: Settings) -> list[str]:
    # Through the ``current`` release link when there is one: a release's own venv is pruned after later deploys.
    current = settings.releases_path / "current" / "venv" / "bin" / "oppscope"
    oppscope = current if current.exists() else Path(sys.prefix) / "bin" / "oppscope"
    base = shlex.join(
        [
            str(oppscope),
            "--profile",
            settings.profile.value,
            "--data-dir",
            str(settings.data_dir.resolve()),
        ]
    )
    env = f"OPPSCOPE_BACKUP_DIR={shlex.quote(str(settings.backup_path.resolve()))}"
    log = shlex.quote(str(settings.backup_path.resolve() / "cron.log"))
    run = f"{env} {base}"
    return [
        BEGIN,
        f"15 2 * * * {run} backup create --kind daily >> {log} 2>&1",
        f"45 2 * * 0 {run} backup create --kind weekly >> {log} 2>&1",
        f"30 3 1 * * {run} backup create --kind monthly >> {log} 2>&1",
        f"0 4 * * * {run} backup prune >> {log} 2>&1",
        f"30 4 * * * {run} backup verify >> {log} 2>&1",
        END,
    ]


def install(settings: Settings, *, write: bool) -> ScheduleReport:
    lines = cron_lines(settings)
    if not write:
        return ScheduleReport(lines, False, "printed (install with --install)")
    crontab = shutil.which("crontab")
    if crontab is None:
        return ScheduleReport(lines, False, "crontab is not installed here: add these lines to the scheduler")
    current = subprocess.run([crontab, "-l"], capture_output=True, text=True, check=False)
    kept = _without_our_block(current.stdout.splitlines() if current.returncode == 0 else [])
    result = subprocess.run([crontab, "-"], input="\n".join([*kept, *lines]) + "\n", text=True, check=False)
    if result.returncode != 0:
        raise BackupError("crontab_failed", "crontab refused the new table", kind=ErrorKind.unavailable)
    return ScheduleReport(lines, True, "installed into the user's crontab")


def _without_our_block(lines: list[str]) -> list[str]:
    kept, inside = [], False
    for line in lines:
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            kept.append(line)
    return kept
