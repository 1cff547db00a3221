"""Zero-downtime benchmark: failed requests through a real deploy and a real rollback, under load.

It builds a production installation in a scratch directory with the real commands (``db upgrade``, ``history
sample``, ``tokens create``), starts ``oppscope serve --profile production --daemon`` (nginx in front of an
instance), clones this project with one extra *expand* migration, and then, under a steady load of fresh
connections (one per request: ``POST /api/v1/analyses`` and ``GET /api/v1/history/stats`` with a bearer token,
plus a slow-body POST always in flight), runs ``oppscope deploy --path <clone> --yes`` and ``oppscope rollback
--yes``. It prints the requests served, the failed ones (connection errors and 5xx), the slow requests that spanned
each proxy switch, and the deploy and rollback durations.

    .venv/bin/python benchmarks/deploy.py [--rows 20000] [--workers 2] [--threads 2] [--json]

Target: zero failed requests, both commands exit 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/http.py has the standard library's name and Python puts a script's own directory first on sys.path:
# move benchmarks/ to the end before anything imports ``http.client`` (as benchmarks/http.py does).
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
OPPSCOPE = Path(sys.executable).parent / "oppscope"
OPPORTUNITY = {
    "customer_name": "Deploy load",
    "region": "Germany",
    "close_date": "2026-03-31",
    "opportunity_name": "Zero downtime",
    "description": "Migrate 60 servers and 4 databases to AWS",
    "industry": "Manufacturing",
}
EXPAND_MIGRATION = '''"""A table only the new release writes: backward compatible, the old release runs on it too."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
kind = "expand"


def upgrade() -> None:
    op.create_table("deploy_probe", sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.Text))


def downgrade() -> None:
    op.drop_table("deploy_probe")
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Installation:
    """A production installation in ``root``: ``data/`` beside ``releases/``, driven by the real CLI."""

    def __init__(self, root: Path, workers: int, env: dict[str, str] | None = None) -> None:
        self.root, self.data = root, root / "data"
        self.env = os.environ | {"OPPSCOPE_WORKERS": str(workers), "OPPSCOPE_CONTINUOUS_BACKUP": "false"} | (env or {})
        self.port = free_port()
        self.token = ""

    def oppscope(
        self, *args: str, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [str(OPPSCOPE), *args, "--profile", "production", "--data-dir", str(self.data)]
        done = subprocess.run(
            command,
            env=self.env | (env or {}),
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def prepare(self, rows: int) -> None:
        self.oppscope("db", "upgrade")
        self.oppscope("history", "sample", "--rows", str(rows))
        created = self.oppscope("tokens", "create", "--name", "load", "--scope", "read", "--scope", "write", "--json")
        self.token = json.loads(created.stdout)["token"]

    @contextmanager
    def serving(self) -> Iterator[Installation]:
        self.oppscope("serve", "--daemon", "--port", str(self.port), timeout=600)
        try:
            yield self
        finally:
            self.oppscope("stop", check=False, timeout=300)

    @property
    def upstream_conf(self) -> Path:
        return self.data / "run" / "nginx" / "upstream.conf"


def clone_with_expand_migration(target: Path) -> Path:
    """This project as committed, plus one expand migration after its head, as the next release would ship it."""
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(target)], check=True)
    versions = target / "oppscope" / "state" / "migrations" / "versions"
    head = max(p.name.split("_")[0] for p in versions.glob("[0-9]*_*.py"))
    revision = f"{int(head) + 1:04d}"
    (versions / f"{revision}_deploy_probe.py").write_text(
        EXPAND_MIGRATION.format(revision=revision, down=head), encoding="utf-8"
    )
    return target


@dataclass
class Record:
    kind: str
    started: float
    ended: float
    outcome: str  # the HTTP status, or the exception's name

    @property
    def failed(self) -> bool:
        return not self.outcome.isdigit() or self.outcome.startswith("5")


@dataclass
class Load:
    """Fresh connections, one per request, until stopped; a slow-body POST is always in flight beside them."""

    host: str
    port: int
    token: str
    threads: int = 2
    slow_seconds: float = 4.0
    records: list[Record] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        targets = [self._fast] * self.threads + [self._slow]
        self._workers = [threading.Thread(target=t, args=(i,), daemon=True) for i, t in enumerate(targets)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)

    def _record(self, kind: str, started: float, outcome: str) -> None:
        self.records.append(Record(kind, started, time.time(), outcome))

    def _request(self, method: str, path: str, body: bytes | None, pause_s: float = 0.0) -> str:
        """One request on a new connection (closed after it); ``pause_s`` spreads the body over that time."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            connection.putrequest(method, path)
            connection.putheader("Authorization", f"Bearer {self.token}")
            connection.putheader("Connection", "close")
            if body is not None:
                connection.putheader("Content-Type", "application/json")
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders()
            if body is not None:
                pieces = 8 if pause_s else 1
                size = -(-len(body) // pieces)
                for offset in range(0, len(body), size):
                    connection.send(body[offset : offset + size])
                    if pause_s:
                        time.sleep(pause_s / pieces)
            response = connection.getresponse()
            response.read()
            return str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__
        finally:
            connection.close()

    def _fast(self, index: int) -> None:
        body = json.dumps(OPPORTUNITY).encode()
        count = index
        while not self._stop.is_set():
            count += 1
            started = time.time()
            if count % 2:
                self._record("post", started, self._request("POST", "/api/v1/analyses", body))
            else:
                self._record("stats", started, self._request("GET", "/api/v1/history/stats", None))

    def _slow(self, _: int) -> None:
        body = json.dumps(OPPORTUNITY | {"opportunity_name": "Slow in flight"}).encode()
        while not self._stop.is_set():
            started = time.time()
            self._record("slow", started, self._request("POST", "/api/v1/analyses", body, self.slow_seconds))


@dataclass
class SwitchWatch:
    """When the proxy's upstream changed: the generated include, read every 20 ms."""

    path: Path
    switches: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _watch(self) -> None:
        last = self._read()
        while not self._stop.wait(0.02):
            now = self._read()
            if now != last:
                self.switches.append((time.time(), now))
                last = now

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError):
            return ""


@dataclass
class Report:
    deploy_exit: int
    rollback_exit: int
    deploy_s: float
    rollback_s: float
    requests: int
    failed: int
    failures: dict[str, int]
    by_kind: dict[str, int]
    switches: int
    slow_across_switch: int
    deploy: dict[str, Any]
    rollback: dict[str, Any]
    schema_after_rollback: dict[str, Any] = field(default_factory=dict)
    failing_deploy_exit: int | None = None
    failing_deploy: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        skip = ("deploy", "rollback", "failing_deploy", "schema_after_rollback")
        return {k: v for k, v in self.__dict__.items() if k not in skip}


def slow_spanning(records: Sequence[Record], moments: Sequence[float]) -> list[Record]:
    return [r for r in records if r.kind == "slow" and any(r.started < m < r.ended for m in moments)]


def run(
    root: Path,
    rows: int,
    workers: int,
    threads: int,
    settle_s: float = 3.0,
    failing_deploy: bool = False,
    env: dict[str, str] | None = None,
) -> Report:
    """Deploy, then roll back; with ``failing_deploy``, then a deploy whose post-deployment check cannot pass (a
    p95 baseline of 1 ms), which must roll back by itself, still without a failed request."""
    installation = Installation(root, workers, env)
    installation.prepare(rows)
    clone = clone_with_expand_migration(root / "clone")
    with installation.serving():
        load = Load("127.0.0.1", installation.port, installation.token, threads)
        watch = SwitchWatch(installation.upstream_conf)
        watch.start()
        load.start()
        try:
            time.sleep(settle_s)
            started = time.perf_counter()
            deployed = installation.oppscope(
                "deploy", "--path", str(clone), "--yes", "--json", "--check-seconds", "3", check=False
            )
            deploy_s = time.perf_counter() - started
            time.sleep(settle_s)
            started = time.perf_counter()
            rolled = installation.oppscope("rollback", "--yes", "--json", check=False)
            rollback_s = time.perf_counter() - started
            schema = installation.oppscope("db", "current", "--json", check=False)
            time.sleep(settle_s)
            failing = None
            if failing_deploy:
                impossible = {"OPPSCOPE_BASELINE_P95_S": "0.001"}
                args = ("deploy", "--path", str(clone), "--yes", "--json", "--check-seconds", "2")
                failing = installation.oppscope(*args, check=False, env=impossible)
                time.sleep(settle_s)
        finally:
            load.stop()
            watch.stop()
    records = load.records
    failures: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for record in records:
        kinds[record.kind] = kinds.get(record.kind, 0) + 1
        if record.failed:
            failures[f"{record.kind} {record.outcome}"] = failures.get(f"{record.kind} {record.outcome}", 0) + 1
    return Report(
        deploy_exit=deployed.returncode,
        rollback_exit=rolled.returncode,
        deploy_s=round(deploy_s, 2),
        rollback_s=round(rollback_s, 2),
        requests=len(records),
        failed=sum(failures.values()),
        failures=failures,
        by_kind=kinds,
        switches=len(watch.switches),
        slow_across_switch=len(slow_spanning(records, [moment for moment, _ in watch.switches])),
        deploy=_json(deployed),
        rollback=_json(rolled),
        schema_after_rollback=_json(schema),
        failing_deploy_exit=failing.returncode if failing else None,
        failing_deploy=_json(failing) if failing else None,
    )


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        parsed = json.loads(done.stdout)
    except ValueError:
        return {"stdout": done.stdout[-3000:], "stderr": done.stderr[-3000:]}
    return parsed if isinstance(parsed, dict) else {"stdout": done.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="oppscope-deploy-bench-"))
    try:
        report = run(root, args.rows, args.workers, args.threads)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(report.summary(), indent=2))
        return
    print(
        f"history rows:            {args.rows}  (instance workers {args.workers}, load threads {args.threads} + 1 slow)"
    )
    print(f"requests served:         {report.requests}  {report.by_kind}")
    print(f"failed requests:         {report.failed}  {report.failures or ''}")
    print(
        f"proxy switches seen:     {report.switches}; slow requests in flight across one: {report.slow_across_switch}"
    )
    print(f"deploy:                  exit {report.deploy_exit}, {report.deploy_s:.1f} s")
    print(f"rollback:                exit {report.rollback_exit}, {report.rollback_s:.1f} s")
    for name, outcome in (("deploy", report.deploy), ("rollback", report.rollback)):
        for step in outcome.get("steps", []):
            print(f"  {name} [{step['number']:>2}] {step['name']:<24} {step['status']:<7} {step['duration_s']:>6.2f} s")
    if report.failed or report.deploy_exit or report.rollback_exit:
        sys.exit(1)


if __name__ == "__main__":
    main()
