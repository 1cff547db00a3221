"""Rehearsals that prove a backup restores: ``backup test``, ``recover test`` and ``dr test``.

Each works in a scratch directory of its own, on copies of the backups and the replica (a rehearsal moves
files aside like a real restore does, and must never touch the live data directory or the live backups):

- ``backup_test`` restores the latest sound backup and checks its checksums, row counts, history snapshot and
  that every analysis reads back identical to the backup's copy;
- ``recover_test`` takes a consistent copy of the live state as the reference, recovers from the sources
  ``recover full`` would use, and checks every recovered analysis against the reference;
- ``dr_test`` does the same as a disaster: the data directory is gone at a measured moment, ``recover full``
  runs, the service is started on a scratch loopback port until ``/health/ready`` answers, and analyses and the
  history are read back through the API. RTO is disaster to ready; RPO is how far before the disaster the
  recovered state was (its recovery point), with the analyses lost counted, both against the seed's targets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx

from oppscope.access.scopes import Scope as TokenScope
from oppscope.backup.catalog import backup_root
from oppscope.backup.continuous import replica_dir
from oppscope.backup.copies import backup_state, history_facts
from oppscope.backup.manifest import CONFIG_DIR, CONTINUOUS_DIR, STATE_FILE, BackupError, parse_utc
from oppscope.backup.restore import RestoreReport, Scope, latest_sound_backup, recover, restore_backup
from oppscope.config import Settings
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.wiring import open_services

API_CHECKS: Final = 200  # analyses read back one by one through the API (all are compared in the database)
READY_TIMEOUT_S: Final = 900.0


@dataclass
class Comparison:
    """Recovered against reference: analyses identical (created_at, input, predictions), missing, differing."""

    compared: int = 0
    identical: int = 0
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    history: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "analyses_compared": self.compared,
            "analyses_identical": self.identical,
            "analyses_missing": len(self.missing),
            "analyses_different": self.different[:20],
            "history": self.history,
            "problems": self.problems,
        }


@dataclass
class DrillReport:
    """What ``backup test``, ``recover test`` and ``dr test`` print; ``ok`` is their exit status."""

    kind: str
    restore: RestoreReport | None
    comparison: Comparison
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    rto_target_seconds: float | None = None
    rpo_target_seconds: float | None = None
    served_on: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def rto_met(self) -> bool | None:
        if self.rto_seconds is None or self.rto_target_seconds is None:
            return None
        return self.rto_seconds <= self.rto_target_seconds

    @property
    def rpo_met(self) -> bool | None:
        if self.rpo_seconds is None or self.rpo_target_seconds is None:
            return None
        return self.rpo_seconds <= self.rpo_target_seconds

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and not self.comparison.problems
            and not self.comparison.different
            and self.rto_met is not False
            and self.rpo_met is not False
            and (self.kind != "backup test" or not self.comparison.missing)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "test": self.kind,
            "problems": self.problems,
            "rto_seconds": None if self.rto_seconds is None else round(self.rto_seconds, 1),
            "rto_target_seconds": self.rto_target_seconds,
            "rto_met": self.rto_met,
            "rpo_seconds": None if self.rpo_seconds is None else round(self.rpo_seconds, 1),
            "rpo_target_seconds": self.rpo_target_seconds,
            "rpo_met": self.rpo_met,
            "served_on": self.served_on,
            "comparison": self.comparison.as_dict(),
            "restore": None if self.restore is None else self.restore.as_dict(),
        }


# DrReport is the name the maintenance checklist knows dr_test's report by.
DrReport = DrillReport


@contextmanager
def scratch(settings: Settings, *, prefix: str) -> Iterator[Settings]:
    """Settings whose data, backup, config and releases directories are all in a fresh scratch directory."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield settings.model_copy(
            update={
                "data_dir": root / "data",
                "backup_dir": root / "backups",
                "config_dir": root / "config",
                "releases_dir": root / "releases",
                "log_dir": root / "logs",
            }
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy_sources(live: Settings, into: Settings, backup: Path | None) -> None:
    """The latest backup, the replica and the dated configuration backups, copied for the rehearsal to use."""
    target = backup_root(into)
    target.mkdir(parents=True, exist_ok=True)
    if backup is not None:
        shutil.copytree(backup, target / backup.name)
    replica = replica_dir(live).parent
    if replica.is_dir():  # litestream may be compacting it meanwhile: a file it removed is no longer needed
        shutil.copytree(replica, target / CONTINUOUS_DIR, copy_function=_copy_if_still_there)
    dated = backup_root(live) / CONFIG_DIR
    if dated.is_dir():
        shutil.copytree(dated, target / CONFIG_DIR)


def _copy_if_still_there(source: str, target: str) -> None:
    with suppress(FileNotFoundError):
        shutil.copy2(source, target)


def _analyses(path: Path) -> dict[str, tuple[str, str]]:
    """id -> (created_at, document) of a state database nobody writes."""
    connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        rows = connection.execute("SELECT id, created_at, document FROM analyses").fetchall()
    finally:
        connection.close()
    return {str(i): (str(c), str(d)) for i, c, d in rows}


def _compare_in_store(settings: Settings, reference: dict[str, tuple[str, str]], comparison: Comparison) -> None:
    with open_services(settings) as services:
        for analysis_id, (created_at, document) in reference.items():
            saved = services.analysis_store.get(analysis_id)
            comparison.compared += 1
            if saved is None:
                comparison.missing.append(analysis_id)
            elif saved.created_at == created_at and saved.document == document:
                comparison.identical += 1
            else:
                comparison.different.append(analysis_id)


def _compare_history(settings: Settings, snapshot: str | None, rows: int, comparison: Comparison) -> None:
    if snapshot is None:
        return
    try:
        facts = history_facts(settings.history_path)
    except OppscopeError as exc:
        comparison.problems.append(f"the recovered history cannot be read: {exc.message}")
        return
    comparison.history = {"snapshot_id": facts.snapshot_id, "rows": facts.rows, "expected_rows": rows}
    if (facts.snapshot_id, facts.rows) != (snapshot, rows):
        comparison.problems.append(
            f"the recovered history is snapshot {facts.snapshot_id} with {facts.rows} rows, not {snapshot} with {rows}"
        )


def backup_test(settings: Settings) -> DrillReport:
    """Restore the latest sound backup into a scratch directory and check that it holds what it says."""
    found = latest_sound_backup(settings)
    if found is None:
        raise BackupError(
            "no_backup", f"there is no sound backup in {backup_root(settings)} to test", kind=ErrorKind.not_found
        )
    path, manifest = found
    comparison = Comparison()
    with scratch(settings, prefix="oppscope-backup-test-") as rehearsal:
        _copy_sources(settings, rehearsal, path)
        shutil.rmtree(replica_dir(rehearsal).parent, ignore_errors=True)  # the backup alone is under test
        report = restore_backup(rehearsal, manifest.id, yes=True)
        for table in ("analyses", "api_tokens"):
            restored, recorded = report.row_counts.get(table), manifest.row_counts.get(table)
            if restored != recorded:
                comparison.problems.append(f"{table}: {restored} restored, the manifest says {recorded}")
        _compare_in_store(rehearsal, _analyses(path / STATE_FILE), comparison)
        _compare_history(
            rehearsal, manifest.history_snapshot_id, manifest.row_counts.get("history_rows", 0), comparison
        )
    return DrillReport("backup test", report, comparison)


def recover_test(settings: Settings) -> DrillReport:
    """``recover full`` rehearsed in a scratch directory, checked against a copy of the live state."""
    return _rehearse(settings, serve=False)


def dr_test(settings: Settings) -> DrillReport:
    """The disaster rehearsal: data directory lost, recovered, served, read back; RTO and RPO measured."""
    return _rehearse(settings, serve=True)


def _rehearse(settings: Settings, *, serve: bool) -> DrillReport:
    kind = "dr test" if serve else "recover test"
    report = DrillReport(
        kind,
        None,
        Comparison(),
        rto_target_seconds=settings.dr_rto_target_minutes * 60.0,
        rpo_target_seconds=settings.dr_rpo_target_minutes * 60.0,
    )
    with scratch(settings, prefix=f"oppscope-{kind.replace(' ', '-')}-") as rehearsal:
        try:
            _rehearse_in(settings, rehearsal, report, serve=serve)
        except OppscopeError as exc:  # a failed rehearsal is a report the checklists can show, not a crash
            report.problems.append(exc.message)
    return report


def _rehearse_in(settings: Settings, rehearsal: Settings, report: DrillReport, *, serve: bool) -> None:
    comparison = report.comparison
    reference_file = Path(tempfile.mkdtemp(prefix="ref-", dir=rehearsal.backup_path.parent)) / STATE_FILE
    backup_state(settings.state_path, reference_file)  # the live state at the moment of the disaster
    reference = _analyses(reference_file)
    live_history = history_facts(settings.history_path) if settings.history_path.exists() else None
    found = latest_sound_backup(settings)
    _copy_sources(settings, rehearsal, found[0] if found else None)
    disaster_wall, disaster = datetime.now(UTC), time.monotonic()
    restored = report.restore = recover(rehearsal, Scope.full, yes=True)
    if serve:
        with _served(rehearsal) as (url, token):
            report.rto_seconds = time.monotonic() - disaster
            report.served_on = url
            _compare_through_api(url, token, reference, comparison)
            _compare_history_through_api(url, token, live_history, comparison)
    else:
        report.rto_seconds = time.monotonic() - disaster
    _compare_in_store(rehearsal, reference, comparison)
    report.rpo_seconds = _rpo(restored, reference, comparison.missing, disaster_wall)
    if live_history is not None:
        _compare_history(rehearsal, live_history.snapshot_id, live_history.rows, comparison)


def _rpo(
    restored: RestoreReport, reference: dict[str, tuple[str, str]], missing: list[str], disaster: datetime
) -> float | None:
    """How much before the disaster the recovered state is. From a backup: the backup's age (its state is as of
    then). From the replica, which is current up to its last sync: the span of the analyses it lost (0 if none);
    its newest file's time is no bound, as an idle database is current with an old file."""
    if restored.state_source == "backup" and restored.recovery_point is not None:
        return max(0.0, (disaster - parse_utc(restored.recovery_point)).total_seconds())
    if restored.state_source is None:
        return None
    lost = [parse_utc(reference[i][0]) for i in missing]
    return max(0.0, (disaster - min(lost)).total_seconds()) if lost else 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _served(settings: Settings) -> Iterator[tuple[str, str]]:
    """``oppscope serve`` over the recovered scratch data on a free loopback port, until ready; and a read token."""
    with open_services(settings) as services:
        token, _ = services.tokens.create("dr-test", {TokenScope.read})
    port = _free_port()
    env = {
        **os.environ,
        "OPPSCOPE_PROFILE": settings.profile.value,
        "OPPSCOPE_DATA_DIR": str(settings.data_dir),
        "OPPSCOPE_BACKUP_DIR": str(settings.backup_path),
        "OPPSCOPE_CONFIG_DIR": str(settings.config_path),
        "OPPSCOPE_RELEASES_DIR": str(settings.releases_path),
        "OPPSCOPE_LOG_DIR": str(settings.log_path),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [str(Path(sys.prefix) / "bin" / "oppscope"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_file = (settings.data_dir.parent / "serve.log").open("wb")
    server = subprocess.Popen(
        [*command, "--workers", "1"], env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(server, url, settings.data_dir.parent / "serve.log")
        yield url, token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log_file.close()


def _wait_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise BackupError(
                "recovered_service_failed",
                "the service did not start on the recovered data",
                {"exit_code": server.returncode, "log": tail},
                kind=ErrorKind.unavailable,
            )
        try:
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BackupError(
        "recovered_service_not_ready", f"the recovered service was not ready within {READY_TIMEOUT_S:.0f} s"
    )


def _compare_through_api(url: str, token: str, reference: dict[str, tuple[str, str]], comparison: Comparison) -> None:
    newest = sorted(reference.items(), key=lambda item: item[1][0], reverse=True)[:API_CHECKS]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for analysis_id, (created_at, document) in newest:
            answer = client.get(f"/api/v1/analyses/{analysis_id}")
            if answer.status_code == 404:
                continue  # after the recovery point: counted as missing by the store comparison
            body, saved = answer.json(), json.loads(document)
            same = answer.status_code == 200 and body.get("created_at") == created_at
            same = same and all(body.get(k) == saved.get(k) for k in ("input", "predictions"))
            if not same:
                comparison.problems.append(f"analysis {analysis_id} reads back differently through the API")


def _compare_history_through_api(url: str, token: str, live: Any, comparison: Comparison) -> None:
    if live is None:
        return
    answer = httpx.get(f"{url}/api/v1/history/stats", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    stats = answer.json() if answer.status_code == 200 else {}
    if (stats.get("rows"), stats.get("snapshot_id")) != (live.rows, live.snapshot_id):
        comparison.problems.append(
            f"the served history is {stats.get('snapshot_id')} with {stats.get('rows')} rows, "
            f"not {live.snapshot_id} with {live.rows}"
        )
