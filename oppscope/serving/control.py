"""The supervisor's control API: its types, its wire format and the typed client the CLI and ``deploy`` use.

One JSON request per connection on the Unix socket ``<run_path>/supervisor.sock``: ``{"op": NAME, "args": {...}}``
and a newline; the answer is one line, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {code, message,
details}}``. An error answered by the supervisor is raised here as a ``ServingError`` with the same code, so a
caller handles a refused switch the same way whether it came from this process or the daemon.

Zero-downtime deploy with this client::

    client = SupervisorClient.of(settings)
    old = client.status().active
    new = client.start_instance(release_dir)        # ready on its own port, and a new process
    client.switch(new.id)                          # nginx -t, reload, confirmed answering through the proxy
    client.retire(old, drain_seconds=10)           # nginx's old workers and in-flight requests finish, then TERM
"""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from oppscope.config import Settings
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.serving.paths import RunPaths

InstanceState = Literal["starting", "ready", "active", "draining", "stopped", "failed"]

# Error codes the supervisor answers with (``ServingError.code``).
NOT_RUNNING = "supervisor_not_running"
UNKNOWN_INSTANCE = "unknown_instance"
INSTANCE_FAILED = "instance_failed"
PROXY_INVALID = "proxy_config_invalid"
RELOAD_UNCONFIRMED = "proxy_reload_unconfirmed"
ACTIVE_INSTANCE = "instance_is_active"
BAD_REQUEST = "bad_control_request"
NGINX_MISSING = "nginx_missing"
PORT_TAKEN = "port_taken"
ALREADY_RUNNING = "already_running"
START_FAILED = "daemon_start_failed"


class ServingError(OppscopeError):
    default_kind = ErrorKind.unavailable


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Instance(_Model):
    """One ``oppscope serve --workers N`` on a loopback port. ``release`` is the release id (the name of its
    directory under ``releases_path``), ``None`` for the oppscope installed beside the supervisor."""

    id: str
    release: str | None
    release_dir: Path | None
    port: int
    pid: int
    workers: int
    state: InstanceState
    started_at: datetime
    ready: bool = False  # /health/ready answered 200 on its own port when the status was taken


class ProxyStatus(_Model):
    pid: int | None
    host: str
    port: int
    upstream: str | None  # the instance id the proxy sends requests to
    generation: int  # bumped by every confirmed reload
    ready: bool  # /health/ready answered 200 through the proxy when the status was taken


class Retired(_Model):
    """What ``retire`` waited for before it stopped the instance."""

    proxy_drain_s: float  # waiting for nginx's workers from before the last reload to exit
    old_workers: list[int]  # the pids of those still busy when the drain time was up


class ChildStatus(_Model):
    """A helper process the supervisor keeps running (``oppscope backup continuous``)."""

    name: str
    pid: int | None
    running: bool
    restarts: int
    note: str | None = None  # why it is not running (e.g. the command does not exist in this release)


class SupervisorStatus(_Model):
    pid: int
    started_at: datetime
    run_dir: Path
    profile: str
    release: str | None  # the active instance's release
    active: str | None  # the active instance's id
    proxy: ProxyStatus
    instances: list[Instance]
    children: list[ChildStatus]
    ready: bool  # the service answers ready through the proxy

    def instance(self, instance_id: str) -> Instance:
        for instance in self.instances:
            if instance.id == instance_id:
                return instance
        raise ServingError(UNKNOWN_INSTANCE, f"no instance {instance_id!r}", kind=ErrorKind.not_found)


def encode_request(op: str, args: dict[str, Any]) -> bytes:
    return json.dumps({"op": op, "args": args}).encode() + b"\n"


def encode_result(result: Any) -> bytes:
    return json.dumps({"ok": True, "result": result}, default=str).encode() + b"\n"


def encode_error(error: OppscopeError) -> bytes:
    body = {"ok": False, "error": {**error.body()["error"], "kind": error.kind.value}}
    return json.dumps(body, default=str).encode() + b"\n"


class SupervisorClient:
    """Talks to a running supervisor. Every call is synchronous: ``start_instance`` returns once the instance
    is ready, ``switch`` once the proxy is confirmed on it, ``retire`` once it has exited."""

    def __init__(self, socket_path: Path, timeout_s: float = 600.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s

    @classmethod
    def of(cls, settings: Settings, timeout_s: float = 600.0) -> SupervisorClient:
        return cls(RunPaths.of(settings).socket, timeout_s)

    def status(self) -> SupervisorStatus:
        return SupervisorStatus.model_validate(self._call("status", {}))

    def start_instance(self, release_dir: Path | None = None) -> Instance:
        """Start an instance of ``release_dir`` (``<release>/venv/bin/oppscope``; ``None``: the installed one) on
        a free loopback port, beside the active one; returns when it answers ready and the port is its own."""
        args = {"release_dir": str(release_dir.absolute()) if release_dir else None}
        return Instance.model_validate(self._call("start_instance", args))

    def switch(self, instance_id: str) -> None:
        """Point the proxy at ``instance_id``: write the upstream, ``nginx -t``, reload, then confirm through the
        proxy that the new configuration is live and the answer comes from that instance. On any failure the
        previous upstream stays in force and a ``ServingError`` says why."""
        self._call("switch", {"instance_id": instance_id})

    def retire(self, instance_id: str, drain_seconds: float = 10.0) -> Retired:
        """Stop a non-active instance: wait (at most ``drain_seconds`` in all) until nginx's workers from before
        the last reload have exited, then until the proxy holds no connection to it, then TERM, which lets
        in-flight requests finish."""
        args = {"instance_id": instance_id, "drain_seconds": drain_seconds}
        return Retired.model_validate(self._call("retire", args))

    def shutdown(self, graceful: bool = True) -> None:
        """Stop everything: nginx first (gracefully, it finishes what it proxies), then the instances and the
        children. Returns when the supervisor has answered; ``wait_stopped`` in ``daemon`` waits for its exit."""
        self._call("shutdown", {"graceful": graceful})

    def _call(self, op: str, args: dict[str, Any]) -> Any:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(str(self.socket_path))
                sock.sendall(encode_request(op, args))
                answer = _read_line(sock)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ServingError(NOT_RUNNING, "the supervisor is not running", {"socket": str(self.socket_path)}) from exc
        except (OSError, ValueError) as exc:
            raise ServingError(
                NOT_RUNNING, f"the supervisor did not answer {op!r}: {exc}", {"socket": str(self.socket_path)}
            ) from exc
        if answer.get("ok"):
            return answer.get("result")
        error = answer.get("error") or {}
        raise ServingError(
            str(error.get("code", "supervisor_error")),
            str(error.get("message", "the supervisor refused the request")),
            error.get("details") or {},
            kind=ErrorKind(error.get("kind", ErrorKind.unavailable.value)),
        )


def running_instances(settings: Settings) -> int | None:
    """How many instances the supervisor runs, serving or ready to; ``None`` when no supervisor is up."""
    try:
        status = SupervisorClient.of(settings, timeout_s=30).status()
    except ServingError as exc:
        if exc.code != NOT_RUNNING:
            raise
        return None
    return sum(instance.state in ("active", "ready") for instance in status.instances)


def _read_line(sock: socket.socket) -> dict[str, Any]:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    data = b"".join(chunks)
    if not data:
        raise ConnectionResetError("the supervisor closed the connection without an answer")
    parsed = json.loads(data)
    if not isinstance(parsed, dict):
        raise ConnectionResetError("the supervisor answered something other than an object")
    return parsed
