"""The files of one daemon, all under ``settings.run_path`` (``<data_dir>/run``).

The directory is private (0700) and the control socket 0600: whoever can write to the socket can stop the
service or switch its release, so only the owner of the data directory may.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oppscope import durable
from oppscope.config import Settings

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @classmethod
    def of(cls, settings: Settings) -> RunPaths:
        return cls(settings.run_path.absolute())

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def lock(self) -> Path:
        """Held (flock) by the live supervisor: a pid file whose lock is free was left by a killed one."""
        return self.root / "supervisor.lock"

    @property
    def socket(self) -> Path:
        return self.root / "supervisor.sock"

    @property
    def state(self) -> Path:
        """What the supervisor runs, kept so that a successor can clean up after a ``kill -9``."""
        return self.root / "state.json"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def nginx_conf(self) -> Path:
        return self.nginx / "nginx.conf"

    @property
    def upstream_conf(self) -> Path:
        return self.nginx / "upstream.conf"

    @property
    def nginx_pid(self) -> Path:
        return self.nginx / "nginx.pid"

    @property
    def nginx_temp(self) -> Path:
        return self.nginx / "tmp"

    def instance_pid(self, instance_id: str) -> Path:
        return self.root / f"instance-{instance_id}.pid"

    def make(self) -> None:
        """Create the run directory private, and make an existing one private again."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(PRIVATE_DIR)
        self.nginx.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        self.nginx_temp.mkdir(mode=PRIVATE_DIR, exist_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one; the supervisor's files are private."""
    durable.write_atomically(path, text.encode("utf-8"), PRIVATE_FILE)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
