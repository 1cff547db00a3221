"""The supervisor: a detached process that owns nginx, the instances and the continuous backup.

It restarts what crashes, with exponential back-off (reset once a process has run a minute), and answers the control
socket (``control``). Mutating requests (start, switch, retire) and the restarts take one lock, so a deploy and a
crash recovery never interleave; ``status`` does not wait for them. State worth a successor's knowing (pids, ports)
is written to ``run/state.json`` at every change. ``python -m oppscope.serving.supervisor`` is what ``serve
--daemon`` starts; SIGTERM and SIGINT are a graceful shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socketserver
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog

from oppscope.config import Settings, load_settings
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.ops.logging import configure_logging
from oppscope.serving.control import (
    ACTIVE_INSTANCE,
    BAD_REQUEST,
    UNKNOWN_INSTANCE,
    ChildStatus,
    Instance,
    ProxyStatus,
    Retired,
    ServingError,
    SupervisorStatus,
    encode_error,
    encode_result,
)
from oppscope.serving.daemon import clean_stale, hold_lock
from oppscope.serving.instances import InstanceProcess, kill_group, oppscope_command
from oppscope.serving.paths import PRIVATE_FILE, RunPaths, write_atomically
from oppscope.serving.proxy import Proxy

log = structlog.get_logger("oppscope.serving.supervisor")

TICK_S = 1.0


@dataclass
class Backoff:
    """Restart delays 1, 2, 4 ... 60 s; a process that ran ``stable_s`` before crashing starts again at once."""

    initial_s: float = 1.0
    maximum_s: float = 60.0
    stable_s: float = 60.0
    failures: int = 0
    next_at: float = 0.0

    def crashed(self, ran_s: float) -> float:
        if ran_s >= self.stable_s:
            self.failures = 0
        delay = 0.0 if self.failures == 0 else min(self.maximum_s, self.initial_s * 2 ** (self.failures - 1))
        self.failures += 1
        self.next_at = time.monotonic() + delay
        return delay

    def due(self) -> bool:
        return time.monotonic() >= self.next_at


@dataclass
class Child:
    """A helper process kept running beside the service, e.g. ``oppscope backup continuous``."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    note: str | None = None
    backoff: Backoff = field(default_factory=Backoff)

    def start(self, log_path: Path) -> None:
        with (log_path / f"{self.name}.stderr").open("ab") as stderr:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
            )
        self.started = time.monotonic()
        log.info("child started", child=self.name, pid=self.process.pid)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            kill_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                kill_group(self.process.pid)
                self.process.wait(timeout=10)
        log.info("child stopped", child=self.name)

    def model(self) -> ChildStatus:
        pid = self.process.pid if self.running() and self.process is not None else None
        return ChildStatus(name=self.name, pid=pid, running=self.running(), restarts=self.restarts, note=self.note)


def command_exists(executable: Path, *args: str) -> bool:
    """Whether this oppscope has the command (``--help`` exits 0), e.g. ``backup continuous`` in an older release."""
    try:
        result = subprocess.run([str(executable), *args, "--help"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings = settings
        self.paths = RunPaths.of(settings)
        self.proxy = Proxy(settings, self.paths, host, port, nonce=secrets.token_urlsafe(24))
        self.instances: dict[str, InstanceProcess] = {}
        self.active: str | None = None
        self.children: dict[str, Child] = {}
        self.started_at = datetime.now(UTC)
        self.operation = threading.Lock()  # start, switch, retire, restarts: one at a time
        self.stopping = threading.Event()
        self.graceful = True
        self.instance_backoff = Backoff()
        self.proxy_backoff = Backoff()
        self.server: socketserver.ThreadingUnixStreamServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def run(self) -> int:
        lock = hold_lock(self.paths)
        if lock is None:
            log.error("another supervisor holds the lock", run_dir=str(self.paths.root))
            return 1
        clean_stale(self.paths)
        write_atomically(self.paths.supervisor_pid, f"{os.getpid()}\n")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        try:
            self._serve_socket()
            self._start_service()
            log.info("supervisor ready", pid=os.getpid(), port=self.proxy.port, active=self.active)
            while not self.stopping.wait(TICK_S):
                self._watch()
            return 0
        except OppscopeError as exc:
            log.error("supervisor failed", code=exc.code, error=exc.message, details=exc.details)
            return 1
        finally:
            self._shutdown()
            os.close(lock)

    def _start_service(self) -> None:
        current = self.settings.releases_path / "current"
        with self.operation:
            instance = self._start_instance(current if current.exists() else None)
            self.proxy.start(instance.id, instance.port)
            self._activate(instance)
        if self.settings.continuous_backup:
            self._start_backup(instance)

    def _start_backup(self, instance: InstanceProcess) -> None:
        executable = oppscope_command(instance.release_dir)
        data_dir = str(self.settings.data_dir.absolute())
        arguments = ["backup", "continuous", "--profile", self.settings.profile.value, "--data-dir", data_dir]
        child = Child("backup-continuous", [str(executable), *arguments])
        self.children[child.name] = child
        if not command_exists(executable, "backup", "continuous"):
            child.note = f"{executable} has no 'backup continuous' command: continuous backup is not running"
            log.warning("continuous backup skipped", reason=child.note)
            return
        child.start(self.settings.log_path.absolute())
        self._save()

    def _shutdown(self) -> None:
        """nginx first (QUIT: it finishes the requests it proxies), then the instances, then the children."""
        log.info("supervisor stopping", graceful=self.graceful)
        timeout = self.settings.proxy_request_timeout_s + 10 if self.graceful else 5.0
        with contextlib.suppress(Exception):
            self.proxy.stop(graceful=self.graceful, timeout_s=timeout)
        for instance in list(self.instances.values()):
            with contextlib.suppress(Exception):
                instance.stop(graceful=self.graceful, timeout_s=timeout)
        for child in self.children.values():
            with contextlib.suppress(Exception):
                child.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for path in (self.paths.socket, self.paths.state, self.paths.supervisor_pid):
            path.unlink(missing_ok=True)
        log.info("supervisor stopped")

    # -- instances --------------------------------------------------------------------------------------------------

    def _start_instance(self, release_dir: Path | None) -> InstanceProcess:
        instance = InstanceProcess(self.settings, self.paths, release_dir, self.settings.worker_count)
        self.instances[instance.id] = instance
        try:
            instance.spawn()
            self._save()
            instance.wait_ready(self.settings.instance_start_timeout_s)
        except BaseException:
            with contextlib.suppress(Exception):
                instance.stop(graceful=False)
            self.instances.pop(instance.id, None)
            self._save()
            raise
        return instance

    def _activate(self, instance: InstanceProcess) -> None:
        previous = self.instances.get(self.active) if self.active else None
        if previous is not None and previous is not instance and not previous.exited():
            previous.state = "ready"
        instance.state = "active"
        self.active = instance.id
        self._save()

    def _instance(self, instance_id: object) -> InstanceProcess:
        instance = self.instances.get(str(instance_id))
        if instance is None:
            raise ServingError(
                UNKNOWN_INSTANCE,
                f"no instance {instance_id!r}",
                {"known": sorted(self.instances)},
                kind=ErrorKind.not_found,
            )
        return instance

    def _watch(self) -> None:
        """One round of crash detection; restarts wait for their back-off and for any running operation."""
        if not self.operation.acquire(blocking=False):
            return
        try:
            self._watch_instances()
            self._watch_proxy()
        finally:
            self.operation.release()
        self._watch_children()

    def _watch_instances(self) -> None:
        for instance in list(self.instances.values()):
            if not instance.exited() or instance.id == self.active:
                continue
            code = instance.process.returncode if instance.process else None
            log.warning("standby instance exited", instance=instance.id, code=code)
            instance.state = "failed"
            instance.stop(graceful=False)
            del self.instances[instance.id]
            self._save()
        active = self.instances.get(self.active) if self.active else None
        if active is None or not active.exited():
            return
        if active.state == "active":
            active.state = "failed"
            delay = self.instance_backoff.crashed((datetime.now(UTC) - active.started_at).total_seconds())
            code = active.process.returncode if active.process else None
            log.error("active instance exited", instance=active.id, code=code, restart_in_s=delay)
        if not self.instance_backoff.due():
            return
        try:
            replacement = self._start_instance(active.release_dir)
            if self.proxy.alive():
                self.proxy.switch(replacement.id, replacement.port)
            else:
                self.proxy.start(replacement.id, replacement.port)
        except OppscopeError as exc:
            log.error("restarting the instance failed", code=exc.code, error=exc.message)
            self.instance_backoff.crashed(0.0)
            return
        active.stop(graceful=False)
        self.instances.pop(active.id, None)
        self._activate(replacement)
        log.info("instance restarted", instance=replacement.id, replaced=active.id)

    def _watch_proxy(self) -> None:
        active = self.instances.get(self.active) if self.active else None
        if self.proxy.alive() or active is None or active.exited():
            return
        if self.proxy.process is not None and self.proxy.process.returncode is not None:
            delay = self.proxy_backoff.crashed(time.monotonic() - self.proxy.started)
            log.error("nginx exited", code=self.proxy.process.returncode, restart_in_s=delay)
            kill_group(self.proxy.process.pid)  # workers of a killed master still hold the port
            self.proxy.process = None
        if not self.proxy_backoff.due():
            return
        try:
            self.proxy.start(active.id, active.port)
            self.proxy_backoff.failures = 0
        except OppscopeError as exc:
            log.error("restarting nginx failed", code=exc.code, error=exc.message)
            self.proxy_backoff.crashed(0.0)
        self._save()

    def _watch_children(self) -> None:
        for child in self.children.values():
            if child.process is None or child.running():
                continue
            if child.started:
                delay = child.backoff.crashed(time.monotonic() - child.started)
                log.error("child exited", child=child.name, code=child.process.returncode, restart_in_s=delay)
                child.started = 0.0
            if child.backoff.due():
                child.restarts += 1
                child.start(self.settings.log_path.absolute())
                self._save()

    # -- control requests --------------------------------------------------------------------------------------------

    def handle(self, op: str, args: dict[str, Any]) -> Any:
        if op == "status":
            return self.status().model_dump(mode="json")
        if op == "start_instance":
            release_dir = args.get("release_dir")
            if release_dir is not None and not isinstance(release_dir, str):
                raise ServingError(BAD_REQUEST, "release_dir must be a path or null", kind=ErrorKind.invalid)
            with self.operation:
                instance = self._start_instance(Path(release_dir) if release_dir else None)
            return instance.model(ready=True).model_dump(mode="json")
        if op == "switch":
            with self.operation:
                instance = self._instance(args.get("instance_id"))
                if instance.exited() or instance.state not in ("ready", "active"):
                    raise ServingError(
                        UNKNOWN_INSTANCE,
                        f"instance {instance.id} is {instance.state}, not ready",
                        kind=ErrorKind.conflict,
                    )
                self.proxy.switch(instance.id, instance.port)
                self._activate(instance)
            return None
        if op == "retire":
            drain = args.get("drain_seconds", self.settings.drain_seconds)
            if not isinstance(drain, int | float) or isinstance(drain, bool) or not 0 <= drain <= 3600:
                raise ServingError(BAD_REQUEST, "drain_seconds must be a number from 0 to 3600", kind=ErrorKind.invalid)
            with self.operation:
                instance = self._instance(args.get("instance_id"))
                if instance.id == self.active:
                    raise ServingError(
                        ACTIVE_INSTANCE,
                        f"instance {instance.id} is the active one: switch to another first",
                        kind=ErrorKind.conflict,
                    )
                retired = self._drain(instance, float(drain))
                instance.stop(graceful=True, timeout_s=self.settings.proxy_request_timeout_s + 10)
                self.instances.pop(instance.id, None)
                self._save()
            return retired.model_dump(mode="json")
        if op == "shutdown":
            self.graceful = bool(args.get("graceful", True))
            self.stopping.set()
            return {"stopping": True}
        raise ServingError(BAD_REQUEST, f"unknown operation {op!r}", kind=ErrorKind.invalid)

    def _drain(self, instance: InstanceProcess, drain_s: float) -> Retired:
        """Wait out the requests still bound for a retired instance, ``drain_s`` in all.

        An nginx worker that accepted a request before the reload forwards it under the old configuration, to the
        old instance, once it has read the whole body: a slow upload opens its upstream connection only after the
        switch, when the instance shows no connection. So the old workers go first (they exit when their last
        request has), then the instance's own connections, given a second at least unless no drain was asked.
        """
        started = time.monotonic()
        left = self.proxy.wait_old_workers(drain_s)
        waited = time.monotonic() - started
        instance.drain(max(drain_s - waited, 1.0) if drain_s else 0.0)
        if left:
            log.warning("old proxy workers still busy", instance=instance.id, old_workers=left)
        return Retired(proxy_drain_s=round(waited, 3), old_workers=left)

    def status(self) -> SupervisorStatus:
        # One snapshot first (a restart may be changing them meanwhile), then the probes, which take time.
        running, active_id, upstream = list(self.instances.values()), self.active, self.proxy.upstream_id
        active = next((i for i in running if i.id == active_id), None)
        instances: list[Instance] = [i.model(ready=i.ready(2.0)) for i in running if i.process]
        try:
            proxy_ready = self.proxy.alive() and self.proxy.probe(timeout_s=5.0).status == 200
        except httpx.HTTPError:
            proxy_ready = False
        return SupervisorStatus(
            pid=os.getpid(),
            started_at=self.started_at,
            run_dir=self.paths.root,
            profile=self.settings.profile.value,
            release=active.release if active else None,
            active=active_id,
            proxy=ProxyStatus(
                pid=self.proxy.pid,
                host=self.proxy.host,
                port=self.proxy.port,
                upstream=upstream,
                generation=self.proxy.generation,
                ready=proxy_ready,
            ),
            instances=instances,
            children=[child.model() for child in self.children.values()],
            ready=proxy_ready and active is not None and upstream == active.id and not active.exited(),
        )

    def _save(self) -> None:
        state = {
            "pid": os.getpid(),
            "host": self.proxy.host,
            "port": self.proxy.port,
            "nginx_pid": self.proxy.pid,
            "active": self.active,
            "instances": {i.id: i.process.pid for i in self.instances.values() if i.process is not None},
            "children": {c.name: c.process.pid for c in self.children.values() if c.process is not None},
        }
        write_atomically(self.paths.state, json.dumps(state, indent=2) + "\n")

    def _serve_socket(self) -> None:
        supervisor = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    request = json.loads(self.rfile.readline(1_000_000))
                    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
                        raise ServingError(
                            BAD_REQUEST, 'expected {"op": NAME, "args": {...}}', kind=ErrorKind.malformed
                        )
                    args = request.get("args") or {}
                    if not isinstance(args, dict):
                        raise ServingError(BAD_REQUEST, "args must be an object", kind=ErrorKind.malformed)
                    answer = encode_result(supervisor.handle(request["op"], args))
                except ValueError:
                    answer = encode_error(
                        ServingError(BAD_REQUEST, "the request is not JSON", kind=ErrorKind.malformed)
                    )
                except OppscopeError as exc:
                    answer = encode_error(exc)
                except Exception as exc:  # a bug: answer it rather than leave the caller hanging
                    log.exception("control request failed", op=str(locals().get("request")))
                    answer = encode_error(ServingError("supervisor_error", str(exc), kind=ErrorKind.internal))
                with contextlib.suppress(OSError):
                    self.wfile.write(answer)

        self.paths.socket.unlink(missing_ok=True)
        previous = os.umask(0o177)  # the socket is born 0600, inside the 0700 run directory
        try:
            server = socketserver.ThreadingUnixStreamServer(str(self.paths.socket), Handler)
        finally:
            os.umask(previous)
        self.paths.socket.chmod(PRIVATE_FILE)
        server.daemon_threads = True
        self.server = server
        threading.Thread(target=server.serve_forever, name="control-socket", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oppscope.serving.supervisor")
    parser.add_argument("--profile", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True, type=int)
    options = parser.parse_args(argv)
    settings = load_settings(profile=options.profile, data_dir=options.data_dir)
    configure_logging(settings, stream="stderr")
    return Supervisor(settings, options.host, options.port).run()


if __name__ == "__main__":
    raise SystemExit(main())
