"""Start, stop and find the daemon from the CLI, and clean up after one that was killed.

The live supervisor holds an ``flock`` on ``run/supervisor.lock`` for as long as it runs. So a pid file whose lock
anyone can take was left by a supervisor killed with ``kill -9`` (the kernel released its lock), whatever process
now has that pid; the processes it ran (nginx, instances, children), recorded in ``run/state.json``, are then
stopped before anything new starts on their ports.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import structlog

from oppscope.config import Settings
from oppscope.errors import ErrorKind
from oppscope.serving.control import (
    ALREADY_RUNNING,
    NOT_RUNNING,
    PORT_TAKEN,
    START_FAILED,
    ServingError,
    SupervisorClient,
    SupervisorStatus,
)
from oppscope.serving.instances import group_alive, kill_group
from oppscope.serving.paths import PRIVATE_FILE, RunPaths, read_json, read_pid
from oppscope.serving.proxy import find_nginx, probe_host

log = structlog.get_logger(__name__)


@contextmanager
def supervisor_lock(paths: RunPaths) -> Iterator[bool]:
    """Yields True while this process holds the lock, False when a live supervisor does."""
    paths.make()
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def hold_lock(paths: RunPaths) -> int | None:
    """For the supervisor: the lock's descriptor, kept open (and so held) until the process exits."""
    paths.make()
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@dataclass(frozen=True)
class Stale:
    """What a killed supervisor left behind, found (and stopped) before a new start."""

    supervisor_pid: int | None
    stopped: list[str]

    @property
    def found(self) -> bool:
        return self.supervisor_pid is not None or bool(self.stopped)


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:  # a zombie is dead already: only its parent (or init) can reap it, and waiting for it would hang
            if os.getpgid(process.pid) == pgid and process.info.get("status") != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _stop_group(pgid: int, marker: str, timeout_s: float) -> bool:
    """TERM a leftover process group (an instance whose master is gone but whose workers are not; nginx's master
    and workers), then KILL. Only when its processes are what we started: a pid may have been reused."""
    members = [p for p in _group_members(pgid) if marker in " ".join(p.info.get("cmdline") or [])]
    if not members:
        return False
    kill_group(pgid, signal.SIGTERM)
    psutil.wait_procs(members, timeout=timeout_s)
    if group_alive(pgid):
        kill_group(pgid)
    return True


def clean_stale(paths: RunPaths) -> Stale:
    """Stop what a killed supervisor left running and remove its files. Call it holding the lock."""
    state = read_json(paths.state) or {}
    supervisor_pid = read_pid(paths.supervisor_pid)
    stopped: list[str] = []
    nginx_pid = read_pid(paths.nginx_pid) or state.get("nginx_pid")
    if isinstance(nginx_pid, int) and _stop_group(nginx_pid, "nginx", 10.0):
        stopped.append(f"nginx (pid {nginx_pid})")
    groups = {**(state.get("instances") or {}), **(state.get("children") or {})}
    for pid_file in paths.root.glob("instance-*.pid"):
        groups.setdefault(pid_file.name.removeprefix("instance-").removesuffix(".pid"), read_pid(pid_file))
    for name, pid in groups.items():
        if isinstance(pid, int) and _stop_group(pid, "oppscope", 15.0):
            stopped.append(f"{name} (pid {pid})")
    for path in (paths.supervisor_pid, paths.socket, paths.state, paths.nginx_pid, *paths.root.glob("instance-*.pid")):
        path.unlink(missing_ok=True)
    if supervisor_pid is not None or stopped:
        log.warning("cleaned up after a supervisor that did not stop", supervisor_pid=supervisor_pid, stopped=stopped)
    return Stale(supervisor_pid, stopped)


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx binds: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_daemon(settings: Settings, host: str, port: int) -> tuple[SupervisorStatus, Stale]:
    """Start the supervisor detached and return once ``/health/ready`` answers 200 through the proxy."""
    find_nginx()
    paths = RunPaths.of(settings)
    with supervisor_lock(paths) as free:
        if not free:
            raise ServingError(
                ALREADY_RUNNING,
                "the service is already running for this data directory (oppscope status, oppscope stop)",
                {"pid": read_pid(paths.supervisor_pid), "run_dir": str(paths.root)},
                kind=ErrorKind.conflict,
            )
        stale = clean_stale(paths)
    if not _port_free(host, port):
        raise ServingError(
            PORT_TAKEN,
            f"port {port} on {host} is already in use: choose another with --port",
            {"host": host, "port": port},
            kind=ErrorKind.invalid,
        )
    stderr_path = paths.root / "supervisor.stderr"
    command = [sys.executable, "-m", "oppscope.serving.supervisor", "--profile", settings.profile.value]
    command += ["--data-dir", str(settings.data_dir.absolute()), "--host", host, "--port", str(port)]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=settings.data_dir.absolute().parent,
            start_new_session=True,  # its own session: it outlives this command and the terminal
        )
    client = SupervisorClient.of(settings, timeout_s=30.0)
    deadline = time.monotonic() + settings.instance_start_timeout_s + 60
    while True:
        if process.poll() is not None:
            raise ServingError(
                START_FAILED,
                "the supervisor exited before the service was ready",
                {"exit_code": process.returncode, "stderr": _tail(stderr_path)},
            )
        status = _try_status(client)
        if status is not None and status.ready and _answers_ready(host, port):
            return status, stale
        if time.monotonic() > deadline:
            raise ServingError(
                START_FAILED,
                "the service was not ready in time; the supervisor keeps trying (oppscope status, oppscope stop)",
                {"pid": process.pid, "stderr": _tail(stderr_path)},
                kind=ErrorKind.timeout,
            )
        time.sleep(0.5)


def _try_status(client: SupervisorClient) -> SupervisorStatus | None:
    try:
        return client.status()
    except ServingError:
        return None


def _answers_ready(host: str, port: int) -> bool:
    target = probe_host(host)
    url = f"http://{f'[{target}]' if ':' in target else target}:{port}/health/ready"
    try:
        return httpx.get(url, timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def daemon_status(settings: Settings) -> SupervisorStatus:
    """The live status, or ``supervisor_not_running`` saying whether a killed one left files behind."""
    paths = RunPaths.of(settings)
    try:
        return SupervisorClient.of(settings, timeout_s=30.0).status()
    except ServingError as exc:
        if exc.code != NOT_RUNNING:
            raise
        stale_pid = read_pid(paths.supervisor_pid)
        with supervisor_lock(paths) as free:
            if not free:  # alive but not answering: report that rather than "not running"
                raise ServingError(
                    NOT_RUNNING, "the supervisor holds its lock but does not answer", {"pid": stale_pid}
                ) from exc
        details: dict[str, object] = {"run_dir": str(paths.root)}
        if stale_pid is not None:
            details |= {"stale_pid": stale_pid, "hint": "a killed supervisor left files; serve --daemon cleans up"}
        raise ServingError(NOT_RUNNING, "the service is not running", details) from exc


def stop_daemon(settings: Settings, graceful: bool = True) -> Stale | None:
    """Shut the supervisor down and wait for it to exit; without one, clean up what a killed one left."""
    paths = RunPaths.of(settings)
    client = SupervisorClient.of(settings, timeout_s=30.0)
    pid = read_pid(paths.supervisor_pid)
    try:
        client.shutdown(graceful=graceful)
    except ServingError as exc:
        if exc.code != NOT_RUNNING:
            raise
        with supervisor_lock(paths) as free:
            if free:
                return clean_stale(paths)
        if pid is None:
            raise
        os.kill(pid, signal.SIGTERM)  # the supervisor's own TERM handler is the same graceful shutdown
    deadline = time.monotonic() + settings.proxy_request_timeout_s + 120
    while True:
        with supervisor_lock(paths) as free:
            if free:
                return None
        if time.monotonic() > deadline:
            raise ServingError(NOT_RUNNING, "the supervisor did not exit in time", {"pid": pid}, kind=ErrorKind.timeout)
        time.sleep(0.2)
