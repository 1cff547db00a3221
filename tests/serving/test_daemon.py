"""``serve --daemon`` for real: our supervisor, Debian's nginx in front, ``oppscope serve --workers 2`` behind it,
over a 500-row history in a tmp directory, with the production profile (tokens required).

One daemon serves the module's tests in order (each instance start costs tens of seconds on a loaded machine):
the service behind the proxy and its status, slow clients closed by the proxy's timeouts while normal requests
succeed, the control API (start, switch, retire), a crashed instance and a killed nginx restarted by the
supervisor, a ``kill -9`` during writes followed by a new start, and a graceful stop with a request in flight.
The proxy's timeouts are small here so the slow sockets close quickly.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from oppscope.config import Settings, load_settings
from oppscope.serving.control import SupervisorClient, SupervisorStatus
from oppscope.serving.paths import RunPaths
from tests.examples import OPPORTUNITY
from tests.web.conftest import create_token, free_port

pytestmark = pytest.mark.slow

OPPSCOPE = str(Path(sys.executable).parent / "oppscope")
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
PER_CLIENT = 20
ATTACKER = "127.0.0.2"  # loopback too: the slow clients come from another address than the normal ones
DAEMON_ENV = {
    "OPPSCOPE_WORKERS": "2",
    "OPPSCOPE_PROXY_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "OPPSCOPE_PROXY_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "OPPSCOPE_PROXY_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
    "OPPSCOPE_LOG_LEVEL": "info",
}


@dataclass
class Daemon:
    settings: Settings
    port: int
    env: dict[str, str]
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [OPPSCOPE, *args, "--profile", "production", "--data-dir", str(self.settings.data_dir)]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> subprocess.CompletedProcess[str]:
        return self.cli("serve", "--daemon", "--port", str(self.port), "--json")

    def client(self) -> SupervisorClient:
        return SupervisorClient.of(self.settings)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def analyse(self, name: str) -> httpx.Response:
        body = {**OPPORTUNITY, "opportunity_name": name}
        return httpx.post(f"{self.url}/api/v1/analyses", json=body, headers=self.headers(), timeout=60)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("serving")
    data_dir = root / "data"
    env = {**os.environ, **DAEMON_ENV}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    for args in (["history", "sample", "--rows", "500"], ["db", "upgrade"]):
        subprocess.run([OPPSCOPE, "--data-dir", str(data_dir), *args], env=env, check=True, capture_output=True)
    settings = load_settings(profile="production", data_dir=data_dir)
    served = Daemon(settings, free_port(), env, create_token(settings, "read", "write"))
    started = served.start()
    assert started.returncode == 0, started.stderr + started.stdout
    try:
        yield served
    finally:
        served.cli("stop", "--force")


def test_serve_daemon_answers_ready_through_nginx(daemon: Daemon) -> None:
    """Returns once ready; status tells the pids, ports and readiness; the control socket is private."""
    status = SupervisorStatus.model_validate(json.loads(daemon.cli("status", "--json").stdout))
    assert status.ready and status.proxy.ready and status.proxy.port == daemon.port
    active = status.instance(status.active or "")
    assert active.state == "active" and active.ready and active.workers == 2 and active.port != daemon.port
    assert psutil.Process(status.proxy.pid or 0).name() == "nginx"
    assert psutil.Process(status.pid).cmdline()[1:3] == ["-m", "oppscope.serving.supervisor"]
    paths = RunPaths.of(daemon.settings)
    assert stat.S_IMODE(paths.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.socket.stat().st_mode) == 0o600
    assert int(paths.supervisor_pid.read_text()) == status.pid
    # The continuous backup runs when this oppscope has the command, and is reported as skipped otherwise.
    backup = next(c for c in status.children if c.name == "backup-continuous")
    has_command = subprocess.run([OPPSCOPE, "backup", "continuous", "--help"], capture_output=True).returncode == 0
    assert backup.running == has_command and (has_command or "no 'backup continuous'" in (backup.note or ""))

    saved = daemon.analyse("Through the proxy")
    assert saved.status_code == 201, saved.text
    assert "x-oppscope-upstream" not in saved.headers  # only the supervisor's probe learns the upstream
    assert httpx.get(f"{daemon.url}/api/v1/analyses", timeout=30).status_code == 401  # tokens, as in production

    text = daemon.cli("status").stdout
    assert str(status.pid) in text and str(active.port) in text


def test_capacity_asks_the_supervisor_how_many_instances_run(daemon: Daemon) -> None:
    done = daemon.cli("capacity", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["instances"]["now"] == 1
    assert "1 -> 1" in daemon.cli("capacity").stdout


def test_a_second_daemon_is_refused_clearly(daemon: Daemon, tmp_path: Path) -> None:
    again = daemon.start()
    assert again.returncode == 2 and json.loads(again.stdout)["error"]["code"] == "already_running"
    other = Daemon(load_settings(profile="production", data_dir=tmp_path / "data"), daemon.port, daemon.env, "")
    assert other.cli("db", "upgrade").returncode == 0
    taken = other.start()
    assert taken.returncode == 2, taken.stderr
    assert json.loads(taken.stdout)["error"]["code"] == "port_taken"


def _slowloris(count: int, port: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(ATTACKER, 0))
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    return sockets


def _slow_bodies(count: int, port: int, token: str) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(ATTACKER, 0))
        sock.sendall(
            b"POST /api/v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 5000\r\n\r\n{"
        )
        sockets.append(sock)
    return sockets


def _open(sockets: list[socket.socket], trickle: bytes) -> list[socket.socket]:
    """The sockets the server has not closed (nor answered); the others are closed here. Each open one gets
    ``trickle``: a client that keeps sending, so that only a total time limit or a connection cap stops it."""
    still = []
    readable, _, _ = select.select(sockets, [], [], 0)
    for sock in sockets:
        try:
            if sock in readable and not sock.recv(4096, socket.MSG_PEEK):
                raise ConnectionResetError
            if sock in readable:
                raise ConnectionAbortedError  # answered (a 503 from the connection limit): done with it
            sock.sendall(trickle)
            still.append(sock)
        except OSError:
            sock.close()
    return still


def test_slow_clients_are_closed_while_normal_requests_succeed(daemon: Daemon) -> None:
    """Hundreds of slowloris sockets (a header line every half second, never finishing) are closed by the header
    timeout; slow bodies beyond the per-client cap are refused at once, the rest closed after a longer pause."""
    slowloris = _slowloris(300, daemon.port)
    bodies = _slow_bodies(100, daemon.port, daemon.token)
    statuses = []
    started = time.monotonic()
    while time.monotonic() - started < HEADER_TIMEOUT_S + 4:
        slowloris = _open(slowloris, b"X-Slow: 1\r\n")
        bodies = _open(bodies, b" ")  # every half second: faster than the body timeout
        statuses.append(
            httpx.get(f"{daemon.url}/api/v1/history/stats", headers=daemon.headers(), timeout=10).status_code
        )
        time.sleep(0.5)
    assert not slowloris, f"{len(slowloris)} slowloris connections still open"
    assert len(bodies) <= PER_CLIENT, f"{len(bodies)} slow-body connections still open"
    pause_until = time.monotonic() + BODY_TIMEOUT_S + 3  # now they pause longer than the body timeout
    while bodies and time.monotonic() < pause_until:
        time.sleep(0.5)
        bodies = _open(bodies, b"")
    assert not bodies, f"{len(bodies)} paused slow-body connections still open"
    assert set(statuses) == {200} and len(statuses) >= 5
    assert daemon.analyse("After the slow clients").status_code == 201


def test_start_switch_and_retire_through_the_control_socket(daemon: Daemon) -> None:
    """A slow upload begun before the switch reaches the old instance after it, through one of nginx's old
    workers: retire waits for that worker before it stops the instance, so the upload is answered, not 502."""
    client = daemon.client()
    before = client.status()
    old = before.instance(before.active or "")
    new = client.start_instance(None)
    assert new.ready and new.pid != old.pid and new.port != old.port and new.state == "ready"
    result: dict[str, Any] = {}
    sent_first = threading.Event()
    upload = threading.Thread(target=_slow_post, args=(daemon.port, daemon.token, result, sent_first, 20))
    upload.start()
    assert sent_first.wait(30)
    client.switch(new.id)
    after = client.status()
    assert after.active == new.id and after.proxy.upstream == new.id
    assert after.proxy.generation == before.proxy.generation + 1
    assert daemon.analyse("After the switch").status_code == 201
    with pytest.raises(Exception, match="active"):
        client.retire(new.id, 0)
    assert upload.is_alive(), "the upload ended before the retire: lengthen it"
    retired = client.retire(old.id, drain_seconds=60)
    upload.join(timeout=120)
    assert result["status_line"].endswith("201 Created"), result
    assert retired.old_workers == [] and retired.proxy_drain_s > 0.5, retired
    assert not psutil.pid_exists(old.pid) or psutil.Process(old.pid).status() == psutil.STATUS_ZOMBIE
    assert [i.id for i in client.status().instances] == [new.id]


def test_a_crashed_instance_is_replaced(daemon: Daemon) -> None:
    """The active instance's master killed: its orphaned workers are stopped, a new instance takes the proxy."""
    client = daemon.client()
    before = client.status()
    crashed = before.instance(before.active or "")
    os.kill(crashed.pid, signal.SIGKILL)
    deadline = time.monotonic() + daemon.settings.instance_start_timeout_s + 60
    while True:
        after = client.status()
        if after.ready and after.active not in (None, crashed.id):
            break
        assert time.monotonic() < deadline, after
        time.sleep(1)
    assert [i.id for i in after.instances] == [after.active] and after.proxy.upstream == after.active
    assert not [p for p in psutil.process_iter() if _in_group(p, crashed.pid)]
    assert daemon.analyse("After the crash").status_code == 201


def _in_group(process: psutil.Process, pgid: int) -> bool:
    """A live member of the group (a killed orphan may linger as a zombie until init reaps it)."""
    try:
        return os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE
    except (ProcessLookupError, psutil.Error):
        return False


def test_a_killed_nginx_is_restarted(daemon: Daemon) -> None:
    client = daemon.client()
    before = client.status()
    os.kill(before.proxy.pid or 0, signal.SIGKILL)  # its workers live on, holding the port, until the supervisor acts
    deadline = time.monotonic() + 60
    while True:
        after = client.status()
        restarted = after.proxy.pid not in (None, before.proxy.pid)
        if restarted and after.ready and after.proxy.generation == before.proxy.generation + 1:  # confirmed
            break
        assert time.monotonic() < deadline, after
        time.sleep(0.5)
    assert after.active == before.active and after.proxy.upstream == before.active
    assert daemon.analyse("After nginx restarted").status_code == 201


def _write_until_failing(daemon: Daemon, answered: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            response = daemon.analyse(f"Kill test {len(answered)}")
        except httpx.HTTPError:
            continue
        if response.status_code == 201:
            answered.append(response.json()["id"])


def test_kill_9_during_writes_then_serve_again_loses_no_analysis(daemon: Daemon) -> None:
    status = daemon.client().status()
    answered: list[str] = []
    stop = threading.Event()
    writer = threading.Thread(target=_write_until_failing, args=(daemon, answered, stop))
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while len(answered) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(status.pid, signal.SIGKILL)
        os.killpg(status.instance(status.active or "").pid, signal.SIGKILL)
        time.sleep(1)
    finally:
        stop.set()
        writer.join(timeout=120)
    assert len(answered) >= 5
    stale = daemon.cli("status", "--json")
    assert stale.returncode == 1
    assert json.loads(stale.stdout)["error"]["details"]["stale_pid"] == status.pid

    restarted = daemon.start()
    assert restarted.returncode == 0, restarted.stderr
    assert "did not stop cleanly" in restarted.stderr and f"nginx (pid {status.proxy.pid})" in restarted.stderr
    assert not psutil.pid_exists(status.proxy.pid or 0)
    for analysis_id in answered:
        got = httpx.get(f"{daemon.url}/api/v1/analyses/{analysis_id}", headers=daemon.headers(), timeout=30)
        assert got.status_code == 200, analysis_id


def _slow_post(port: int, token: str, result: dict[str, Any], sent_first: threading.Event, pieces: int = 6) -> None:
    """A POST whose body takes ``pieces`` half-seconds to arrive: nginx forwards it only once it has all of it."""
    body = json.dumps({**OPPORTUNITY, "opportunity_name": "In flight"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(
            b"POST /api/v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Authorization: Bearer " + token.encode() + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for index in range(0, len(body), len(body) // pieces + 1):
            sock.sendall(body[index : index + len(body) // pieces + 1])
            sent_first.set()
            time.sleep(0.5)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    result["status_line"] = answer.split(b"\r\n", 1)[0].decode()


def test_stop_is_graceful_and_removes_its_files(daemon: Daemon) -> None:
    paths = RunPaths.of(daemon.settings)
    result: dict[str, Any] = {}
    sent_first = threading.Event()
    request = threading.Thread(target=_slow_post, args=(daemon.port, daemon.token, result, sent_first))
    request.start()
    assert sent_first.wait(30)
    stopped = daemon.cli("stop")
    request.join(timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert result["status_line"].endswith("201 Created"), result
    assert not paths.supervisor_pid.exists() and not paths.socket.exists() and not paths.nginx_pid.exists()
    assert not list(paths.root.glob("instance-*.pid"))
    after = daemon.cli("status", "--json")
    assert after.returncode == 1 and json.loads(after.stdout)["error"]["code"] == "supervisor_not_running"
    assert "stale_pid" not in json.loads(after.stdout)["error"]["details"]
