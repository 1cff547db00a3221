"""One instance: ``<release>/venv/bin/oppscope serve --workers N`` on a free loopback port, in its own process group.

Its own group, so that stopping it (or cleaning up after a ``kill -9`` of its master) reaches every worker. An
instance is *ready and new* when ``/health/ready`` answers 200 on its port and that port's listening socket
belongs to the process we started, not to something left over.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import structlog

from oppscope.config import Settings
from oppscope.errors import ErrorKind
from oppscope.ops.multiproc import MULTIPROC_ENV
from oppscope.serving.control import INSTANCE_FAILED, Instance, InstanceState, ServingError
from oppscope.serving.paths import RunPaths, write_atomically

log = structlog.get_logger(__name__)

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def oppscope_command(release_dir: Path | None) -> Path:
    """The release's own oppscope, or without a release the one installed beside this Python."""
    if release_dir is None:
        return Path(sys.executable).parent / "oppscope"
    return release_dir / "venv" / "bin" / "oppscope"


def release_id(release_dir: Path | None) -> str | None:
    """The id in ``release.json``, else the directory's name (``current`` resolved first)."""
    if release_dir is None:
        return None
    try:
        data = json.loads((release_dir / "release.json").read_text(encoding="utf-8"))
        found = data.get("id") if isinstance(data, dict) else None
        if isinstance(found, str):
            return found
    except (OSError, ValueError):
        pass
    return release_dir.name


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def listening_pids(port: int) -> set[int]:
    """Processes with a TCP socket listening on ``port`` (on any address)."""
    pids: set[int] = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            pids.add(conn.pid)
    return pids


def established_to(port: int) -> int:
    """Open connections to ``port``: how many requests the proxy still has in flight at an instance."""
    return sum(
        1
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.laddr and conn.laddr.port == port
    )


class InstanceProcess:
    def __init__(
        self, settings: Settings, paths: RunPaths, release_dir: Path | None, workers: int, port: int | None = None
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.id = secrets.token_hex(4)
        self.release_dir = release_dir.resolve() if release_dir is not None else None
        self.release = release_id(self.release_dir)
        self.workers = workers
        self.port = port or free_port()
        self.state: InstanceState = "starting"
        self.started_at = datetime.now(UTC)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def stderr_path(self) -> Path:
        return self.paths.root / f"instance-{self.id}.stderr"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the instance was not spawned"
        return self.process.pid

    def command(self) -> list[str]:
        executable = oppscope_command(self.release_dir)
        if not executable.exists():
            raise ServingError(
                INSTANCE_FAILED,
                f"no oppscope in the release: {executable}",
                {"release_dir": str(self.release_dir)},
                kind=ErrorKind.invalid,
            )
        return [
            str(executable),
            "serve",
            "--profile",
            self.settings.profile.value,
            "--data-dir",
            str(self.settings.data_dir.absolute()),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def spawn(self) -> None:
        env = {key: value for key, value in os.environ.items() if key != MULTIPROC_ENV}
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the workers log JSON to the log directory as well
                stderr=stderr,
                env=env,
                cwd=self.settings.data_dir.absolute().parent,
                start_new_session=True,
            )
        write_atomically(self.paths.instance_pid(self.id), f"{self.process.pid}\n")
        log.info("instance spawned", instance=self.id, release=self.release, port=self.port, pid=self.process.pid)

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def ready(self, timeout_s: float = 5.0) -> bool:
        if self.exited():
            return False
        try:
            return httpx.get(f"http://{LOOPBACK}:{self.port}/health/ready", timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def owns_port(self) -> bool:
        """The listener on our port is the process we started: uvicorn's master binds it and its workers share it
        (the kernel reports one of them), so every listening process must be the master or a descendant."""
        if self.exited():
            return False
        try:
            tree = {self.pid} | {child.pid for child in psutil.Process(self.pid).children(recursive=True)}
        except psutil.Error:
            return False
        listeners = listening_pids(self.port)
        return bool(listeners) and listeners <= tree

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not (self.ready() and self.owns_port()):
            if self.exited():
                self.state = "failed"
                raise ServingError(
                    INSTANCE_FAILED,
                    f"instance {self.id} exited before it was ready",
                    {"exit_code": self.process.returncode if self.process else None, "stderr": self.stderr_tail()},
                )
            if time.monotonic() > deadline:
                self.state = "failed"
                self.stop(graceful=False)
                raise ServingError(
                    INSTANCE_FAILED,
                    f"instance {self.id} was not ready within {timeout_s:g} s",
                    {"port": self.port, "stderr": self.stderr_tail()},
                    kind=ErrorKind.timeout,
                )
            time.sleep(0.3)
        self.state = "ready"
        log.info("instance ready", instance=self.id, port=self.port, pid=self.pid)

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-limit:]
        except OSError:
            return ""

    def drain(self, drain_seconds: float) -> None:
        """Wait until nothing is connected to the instance any more, at most ``drain_seconds``."""
        self.state = "draining"
        deadline = time.monotonic() + drain_seconds
        while established_to(self.port) and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self, graceful: bool = True, timeout_s: float = 60.0) -> None:
        """TERM: uvicorn stops accepting and lets in-flight requests finish; KILL the group after ``timeout_s``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            kill_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s if graceful else 5.0)
            except subprocess.TimeoutExpired:
                log.warning("instance did not stop in time; killing it", instance=self.id)
        kill_group(self.process.pid)  # workers a killed master left behind
        self.process.wait(timeout=30)
        if self.state != "failed":
            self.state = "stopped"
        self.paths.instance_pid(self.id).unlink(missing_ok=True)
        if self.state != "failed" or not self.stderr_tail():  # what a failed instance printed is kept
            self.stderr_path.unlink(missing_ok=True)
        log.info("instance stopped", instance=self.id, graceful=graceful)

    def model(self, ready: bool = False) -> Instance:
        return Instance(
            id=self.id,
            release=self.release,
            release_dir=self.release_dir,
            port=self.port,
            pid=self.pid,
            workers=self.workers,
            state=self.state,
            started_at=self.started_at,
            ready=ready,
        )
