"""``oppscope backup verify``: is every backup whole, readable and what its manifest says, and is the replica?

Each file's size and sha256 are compared with the manifest (a short file is reported as truncated, a changed one
as corrupted), then each database is opened as a restore would: SQLite's ``integrity_check`` and the schema
revision and row counts of the state database, DuckDB's open, snapshot id and row count of the history. The
continuous replica is restored by litestream into a scratch file and checked the same way.
``verify_backups(settings)`` is the function the maintenance checklist calls.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from oppscope.backup.catalog import backup_dirs, backup_root
from oppscope.backup.continuous import replica_dir, replica_exists, replica_latest, restore_replica
from oppscope.backup.copies import history_facts, newest_analysis, state_facts
from oppscope.backup.manifest import (
    HISTORY_FILE,
    MANIFEST,
    STATE_FILE,
    Manifest,
    parse_utc,
    read_manifest,
    sha256_of,
)
from oppscope.config import Settings
from oppscope.errors import OppscopeError

# The replica follows the database within a second or two; more than this and replication has stopped.
REPLICA_LAG_ALLOWED = timedelta(minutes=2)


@dataclass
class BackupCheck:
    id: str
    problems: list[str] = field(default_factory=list)
    manifest: Manifest | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "ok": self.ok, "problems": self.problems}
        if self.manifest is not None:
            body |= {k: v for k, v in self.manifest.summary().items() if k != "id"}
        return body


@dataclass
class ReplicaCheck:
    path: str
    problems: list[str] = field(default_factory=list)
    latest: datetime | None = None
    schema_revision: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": self.problems,
            "latest": None if self.latest is None else self.latest.isoformat(),
            "schema_revision": self.schema_revision,
            "row_counts": self.counts,
        }


@dataclass
class VerifyReport:
    backup_dir: str
    backups: list[BackupCheck]
    replica: ReplicaCheck | None
    problems: list[str] = field(default_factory=list)  # about the whole, e.g. no backup at all

    @property
    def ok(self) -> bool:
        return not self.problems and all(b.ok for b in self.backups) and (self.replica is None or self.replica.ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "backup_dir": self.backup_dir,
            "problems": self.problems,
            "backups": [b.as_dict() for b in self.backups],
            "replica": None if self.replica is None else self.replica.as_dict(),
        }


def verify_backup(path: Path) -> BackupCheck:
    """Every check on one backup directory; problems are sentences naming the file and what is wrong."""
    check = BackupCheck(path.name)
    try:
        manifest = check.manifest = read_manifest(path)
    except OppscopeError as exc:
        check.problems.append(exc.message)
        return check
    for entry in manifest.files:
        file = path / entry.path
        if not file.is_file():
            check.problems.append(f"{entry.path} is missing")
        elif (size := file.stat().st_size) != entry.size:
            what = "truncated" if size < entry.size else "longer than recorded"
            check.problems.append(f"{entry.path} is {what}: {size} bytes, the manifest says {entry.size}")
        elif sha256_of(file) != entry.sha256:
            check.problems.append(f"{entry.path} is corrupted: its sha256 differs from the manifest's")
    listed = {entry.path for entry in manifest.files} | {MANIFEST}
    extra = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
    check.problems += [f"{name} is not in the manifest" for name in sorted(set(extra) - listed)]
    if check.problems:  # a damaged file is reported as such; opening it would only repeat it less clearly
        return check
    check.problems += _database_problems(path, manifest)
    return check


def _database_problems(path: Path, manifest: Manifest) -> list[str]:
    problems: list[str] = []
    try:
        state = state_facts(path / STATE_FILE)
        if state.revision != manifest.schema_revision:
            problems.append(
                f"{STATE_FILE} is at revision {state.revision}, the manifest says {manifest.schema_revision}"
            )
        for table, count in state.counts.items():
            if manifest.row_counts.get(table) != count:
                problems.append(
                    f"{STATE_FILE} holds {count} {table}, the manifest says {manifest.row_counts.get(table)}"
                )
    except OppscopeError as exc:
        problems.append(exc.message)
    if manifest.history_snapshot_id is not None:
        try:
            history = history_facts(path / HISTORY_FILE)
            if history.snapshot_id != manifest.history_snapshot_id:
                problems.append(f"{HISTORY_FILE} is snapshot {history.snapshot_id}, not {manifest.history_snapshot_id}")
            if history.rows != manifest.row_counts.get("history_rows"):
                problems.append(
                    f"{HISTORY_FILE} holds {history.rows} rows, not {manifest.row_counts.get('history_rows')}"
                )
        except OppscopeError as exc:
            problems.append(f"{HISTORY_FILE}: {exc.message}")
    return problems


def verify_replica(settings: Settings) -> ReplicaCheck:
    """Restore the replica's latest state into a scratch file and check it as a restore would use it."""
    check = ReplicaCheck(str(replica_dir(settings)))
    try:
        check.latest = replica_latest(settings)
        with tempfile.TemporaryDirectory(prefix="oppscope-replica-") as scratch:
            restored = Path(scratch) / STATE_FILE
            restore_replica(settings, restored)
            facts = state_facts(restored)
            check.schema_revision, check.counts = facts.revision, facts.counts
        live = newest_analysis(settings.state_path)
        if live is not None and (facts.newest_analysis_at is None or live > facts.newest_analysis_at):
            behind = parse_utc(live) - parse_utc(facts.newest_analysis_at or "1970-01-01T00:00:00Z")
            if behind > REPLICA_LAG_ALLOWED:
                check.problems.append(
                    f"the replica is behind the database: its newest analysis is {facts.newest_analysis_at}, the "
                    f"database's {live}; is `oppscope backup continuous` running?"
                )
    except OppscopeError as exc:
        check.problems.append(exc.message)
    return check


def verify_backups(settings: Settings, backup_id: str | None = None) -> VerifyReport:
    """Every backup (or the one named) and the continuous replica; ``ok`` only if all of them are sound."""
    root = backup_root(settings)
    dirs = [d for d in backup_dirs(settings) if backup_id is None or d.name == backup_id]
    report = VerifyReport(str(root), [verify_backup(d) for d in dirs], None)
    if not dirs:
        report.problems.append(
            f"there is no backup {backup_id} in {root}"
            if backup_id
            else f"there is no backup in {root}: run `oppscope backup create`"
        )
    if replica_exists(settings):
        report.replica = verify_replica(settings)
    elif settings.continuous_backup and backup_id is None:
        report.replica = ReplicaCheck(str(replica_dir(settings)))
        report.replica.problems.append(
            "continuous backup is enabled but there is no replica: is `oppscope backup continuous` running?"
        )
    return report
