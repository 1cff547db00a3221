"""``oppscope restore`` and ``oppscope recover``: put a backup, or the replica's state at a time, back in place.

A restore first proves its source sound (every checksum, every database opened) and readable by this code (its
schema revision is one this version ships; an older one is upgraded after the restore), then moves whatever it
replaces aside under ``<backup_path>/pre-restore-<time>/`` (never deleted, never overwritten), then puts each
file in place by a rename. It refuses a data directory a running server uses unless told ``--yes``: the server
would keep writing into the files moved aside.

``recover`` picks the sources itself: the newest sound backup, and for the state database whichever of that
backup and the continuous replica is newer. After ``recover full`` the service starts with no other step: the
state is at this code's schema revision, the history snapshot is current and its model published.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from oppscope.backup.catalog import backup_dirs, backup_path_of, backup_root
from oppscope.backup.continuous import SYNC_INTERVAL, replica_dir, replica_exists, replica_latest, restore_replica
from oppscope.backup.copies import state_facts
from oppscope.backup.manifest import (
    CONFIG_DIR,
    CONTINUOUS_DIR,
    DATA_FILES_DIR,
    HISTORY_FILE,
    MODELS_DIR,
    PRE_RESTORE_PREFIX,
    RELEASES_DIR,
    STATE_FILE,
    BackupError,
    Manifest,
    utc_text,
)
from oppscope.backup.processes import processes_using
from oppscope.backup.verify import verify_backup
from oppscope.config import Settings
from oppscope.durable import fsync_path
from oppscope.engines.cache import open_model_cache
from oppscope.engines.interfaces import Published
from oppscope.errors import ErrorKind
from oppscope.history.duckdb_store import SnapshotFiles
from oppscope.state import migrate
from oppscope.state.db import iso_utc, state_engine

log = structlog.get_logger(__name__)


class Scope(StrEnum):
    full = "full"
    config = "config"
    database = "database"


@dataclass
class RestoreReport:
    scope: str
    backup_id: str | None
    state_source: str | None  # "backup", "replica" or "replica at <time>"
    recovery_point: str | None  # the moment the restored state database was as it is now
    restored: list[str] = field(default_factory=list)
    set_aside: str | None = None
    schema: dict[str, str | None] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    history_snapshot_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    ok = True  # a restore that could not be done raises instead

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "scope": self.scope,
            "backup_id": self.backup_id,
            "state_source": self.state_source,
            "recovery_point": self.recovery_point,
            "restored": self.restored,
            "set_aside": self.set_aside,
            "schema": self.schema,
            "row_counts": self.row_counts,
            "history_snapshot_id": self.history_snapshot_id,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


def refuse_if_running(settings: Settings, *, yes: bool) -> list[int]:
    """The pids of a server using the data directory; without ``yes`` their presence refuses the restore."""
    pids = processes_using(settings)
    if pids and not yes:
        raise BackupError(
            "server_running",
            f"a running oppscope uses {settings.data_dir} (pids {', '.join(map(str, pids))}): stop it first "
            "(`oppscope stop`, or stop the `oppscope serve` process), then run this again; --yes restores anyway, "
            "and the running server would keep writing into the files set aside",
            {"pids": pids, "data_dir": str(settings.data_dir)},
            kind=ErrorKind.conflict,
        )
    return pids


def require_known_schema(revision: str | None, source: str) -> None:
    if revision is not None and not migrate.is_known_revision(revision):
        raise BackupError(
            "backup_schema_newer",
            f"{source} is at schema revision {revision}, which this version of oppscope does not know (it ends at "
            f"{migrate.head_revision()}): it was made by a newer version; restore it with that version",
            {"revision": revision, "head": migrate.head_revision()},
        )


def sound_backup(path: Path) -> Manifest:
    """The manifest of a backup that passed every check, or a refusal naming its problems."""
    check = verify_backup(path)
    if not check.ok or check.manifest is None:
        raise BackupError(
            "backup_unusable",
            f"backup {path.name} cannot be restored: {check.problems[0]}",
            {"backup_id": path.name, "problems": check.problems},
        )
    require_known_schema(check.manifest.schema_revision, f"backup {path.name}")
    return check.manifest


class _Placer:
    """Puts restored files in place, having moved what they replace into one pre-restore directory."""

    def __init__(self, settings: Settings, report: RestoreReport) -> None:
        self.settings, self.report = settings, report
        self.aside = backup_root(settings) / f"{PRE_RESTORE_PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"

    def set_aside(self, path: Path, group: str) -> None:
        if not (path.exists() or path.is_symlink()):
            return
        target = self.aside / group / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
        self.report.set_aside = str(self.aside)

    def state(self, source: Path, label: str) -> None:
        facts = state_facts(source)
        require_known_schema(facts.revision, label)
        data = self.settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        state = self.settings.state_path
        for name in (state.name, f"{state.name}-wal", f"{state.name}-shm", f".{state.name}-litestream"):
            self.set_aside(data / name, "data")
        # The replica describes the database being replaced: a restored one starts its own lineage.
        self.set_aside(replica_dir(self.settings).parent, CONTINUOUS_DIR)
        tmp = data / f".{state.name}.restore"
        shutil.copyfile(source, tmp)
        fsync_path(tmp)
        tmp.replace(state)
        fsync_path(data)
        head = migrate.head_revision()
        self.report.schema = {"restored": facts.revision, "now": facts.revision}
        if facts.revision != head:
            with state_engine(self.settings) as engine:
                self.report.schema["now"] = migrate.upgrade(engine).after
        self.report.row_counts |= facts.counts
        self.report.restored.append("state")

    def history(self, backup: Path, manifest: Manifest) -> None:
        if manifest.history_snapshot_id is None:
            self.report.warnings.append(f"backup {manifest.id} holds no history (none was loaded when it was made)")
            return
        files = SnapshotFiles(self.settings.history_path)
        self.set_aside(files.link, "data")
        self.set_aside(files.dir, "data")
        with files.writing():
            build = files.build_path()
            shutil.copyfile(backup / HISTORY_FILE, build)
            fsync_path(build)
            files.publish(build, manifest.history_snapshot_id)
        self.report.history_snapshot_id = manifest.history_snapshot_id
        self.report.row_counts["history_rows"] = manifest.row_counts.get("history_rows", 0)
        self.report.restored.append("history")
        self._model(backup, manifest)
        marker = backup / DATA_FILES_DIR
        for path in marker.iterdir() if marker.is_dir() else []:
            self.set_aside(self.settings.data_dir / path.name, "data")
            shutil.copy2(path, self.settings.data_dir / path.name)

    def _model(self, backup: Path, manifest: Manifest) -> None:
        """The backed-up model into the model cache and published: the service starts without fitting."""
        if manifest.model_id is None or manifest.history_snapshot_id is None:
            return
        cache_dir = self.settings.model_cache_dir
        target = cache_dir / manifest.model_id
        if not target.is_dir():
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache_dir / f".tmp-restore-{manifest.model_id}"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(backup / MODELS_DIR / manifest.model_id, tmp)
            tmp.rename(target)
        open_model_cache(self.settings).publish(Published(manifest.model_id, manifest.history_snapshot_id))
        self.report.restored.append("model")

    def config(self, source: Path) -> None:
        self.set_aside(self.settings.config_path, "config")
        shutil.copytree(source, self.settings.config_path)
        self.report.restored.append("config")

    def releases(self, backup: Path) -> None:
        """``release.json`` back into a release directory that lost it; releases gone entirely are named, for
        ``oppscope deploy`` to reinstall (a venv is rebuilt from the lock, not restored)."""
        source = backup / RELEASES_DIR
        if not source.is_dir():
            return
        releases = self.settings.releases_path
        missing = []
        for meta in sorted(source.glob("*/release.json")):
            target = releases / meta.parent.name
            if not target.is_dir():
                missing.append(meta.parent.name)
            elif not (target / "release.json").exists():
                shutil.copy2(meta, target / "release.json")
        if missing:
            self.report.warnings.append(
                f"releases not installed here (reinstall with `oppscope deploy`): {', '.join(missing)}; their "
                f"metadata is in {source}"
            )
        self.report.restored.append("releases")


@contextmanager
def _timed(report: RestoreReport) -> Iterator[RestoreReport]:
    started = time.monotonic()
    yield report
    report.seconds = time.monotonic() - started
    log.info("restored", **{k: v for k, v in report.as_dict().items() if k in ("scope", "backup_id", "restored")})


def restore_backup(settings: Settings, backup_id: str, *, yes: bool) -> RestoreReport:
    """Everything backup ``backup_id`` holds: state, history and model, configuration, releases' metadata."""
    path = backup_path_of(settings, backup_id)
    manifest = sound_backup(path)
    refuse_if_running(settings, yes=yes)
    report = RestoreReport("backup", manifest.id, "backup", manifest.created_at)
    with _timed(report):
        placer = _Placer(settings, report)
        placer.state(path / STATE_FILE, f"backup {manifest.id}")
        placer.history(path, manifest)
        if (path / CONFIG_DIR).is_dir():
            placer.config(path / CONFIG_DIR)
        placer.releases(path)
    return report


def restore_to_time(settings: Settings, moment: datetime, *, yes: bool) -> RestoreReport:
    """The state database as committed by ``moment``, from the continuous replica.

    litestream's timestamps are those of its syncs, which follow a commit by ``SYNC_INTERVAL`` or more under load,
    and older changes are kept compacted to coarser points (30 s, 5 min, 1 h). So the replica is restored a little
    past ``moment``, what was created after ``moment`` is taken out again by its own ``created_at``, and an
    analysis or token created by ``moment`` that this point lacks (synced late, or compacted past it) is taken
    from the replica's latest state, where rows are never deleted. The analyses and tokens are then exactly those
    that existed at ``moment``.
    """
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > datetime.now(UTC):
        raise BackupError("time_in_future", f"{utc_text(moment)} is in the future", {"time": utc_text(moment)})
    refuse_if_running(settings, yes=yes)
    report = RestoreReport("time", None, f"replica at {utc_text(moment)}", utc_text(moment))
    backup_root(settings).mkdir(parents=True, exist_ok=True)
    with _timed(report), tempfile.TemporaryDirectory(prefix="oppscope-pitr-", dir=backup_root(settings)) as scratch:
        restored, latest = Path(scratch) / STATE_FILE, Path(scratch) / f"latest-{STATE_FILE}"
        try:
            restore_replica(settings, restored, moment + 2 * SYNC_INTERVAL + timedelta(seconds=1))
        except BackupError as exc:
            if exc.code != "litestream_failed":
                raise
            raise BackupError(
                "no_state_at_time",
                f"the replica holds no state as early as {utc_text(moment)}: {exc.message}",
                {"time": utc_text(moment), **exc.details},
            ) from exc
        restore_replica(settings, latest)
        added = _as_of(restored, latest, moment)
        if added:
            report.warnings.append(f"{added} row(s) created by then were synced later; taken from the latest state")
        _Placer(settings, report).state(restored, "the replica")
    return report


def _as_of(path: Path, latest: Path, moment: datetime) -> int:
    """Rows created after ``moment`` out of ``path``; rows created by then that only ``latest`` holds, in."""
    cut = iso_utc(moment)
    connection = sqlite3.connect(path)
    try:
        connection.execute("ATTACH ? AS latest", (str(latest),))
        revision = "SELECT version_num FROM {}.alembic_version"
        same_schema = (
            connection.execute(revision.format("main")).fetchone()
            == connection.execute(revision.format("latest")).fetchone()
        )
        added = 0
        with connection:
            for table in ("analyses", "api_tokens"):
                connection.execute(f"DELETE FROM {table} WHERE created_at > ?", (cut,))
                if same_schema:  # the same columns: rows copy as they are
                    added += connection.execute(
                        f"INSERT INTO {table} SELECT * FROM latest.{table} WHERE created_at <= ? "
                        f"AND id NOT IN (SELECT id FROM main.{table}) ORDER BY created_at",
                        (cut,),
                    ).rowcount
        connection.execute("DETACH latest")
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    return added


def latest_sound_backup(settings: Settings, report: RestoreReport | None = None) -> tuple[Path, Manifest] | None:
    """The newest backup that passes every check; the damaged ones skipped on the way are reported."""
    for path in reversed(backup_dirs(settings)):
        try:
            return path, sound_backup(path)
        except BackupError as exc:
            if report is not None:
                report.warnings.append(f"skipped {exc.message}")
    return None


def recover(settings: Settings, scope: Scope, *, yes: bool) -> RestoreReport:
    """Recover from the newest sources there are; see the module docstring."""
    refuse_if_running(settings, yes=yes)
    report = RestoreReport(scope.value, None, None, None)
    with _timed(report):
        found = latest_sound_backup(settings, report)
        path, manifest = found if found else (None, None)
        report.backup_id = manifest.id if manifest else None
        placer = _Placer(settings, report)
        if scope in (Scope.full, Scope.database):
            _recover_state(settings, placer, report, path, manifest)
            if path is not None and manifest is not None:
                placer.history(path, manifest)
            else:
                report.warnings.append("no sound backup: the history was not recovered")
        if scope in (Scope.full, Scope.config):
            config = _newest_config(settings, path)
            if config is None:
                report.warnings.append("no configuration was backed up: nothing to recover")
            else:
                placer.config(config)
        if scope is Scope.full and path is not None:
            placer.releases(path)
    if not report.restored:
        raise BackupError(
            "nothing_to_recover",
            f"there is no sound backup and no replica in {backup_root(settings)}: nothing to recover from",
            {"warnings": report.warnings},
            kind=ErrorKind.not_found,
        )
    return report


def _recover_state(
    settings: Settings, placer: _Placer, report: RestoreReport, path: Path | None, manifest: Manifest | None
) -> None:
    latest = None
    if replica_exists(settings):
        try:
            latest = replica_latest(settings)
        except BackupError as exc:
            report.warnings.append(f"the replica cannot be listed: {exc.message}")
    if latest is not None and (manifest is None or latest > manifest.created):
        with tempfile.TemporaryDirectory(prefix="oppscope-recover-", dir=backup_root(settings)) as scratch:
            restored = Path(scratch) / STATE_FILE
            try:
                restore_replica(settings, restored)
                report.state_source, report.recovery_point = "replica", utc_text(latest)
                placer.state(restored, "the replica")
                return
            except BackupError as exc:
                report.warnings.append(f"the replica could not be restored ({exc.message}); using the backup")
    if path is None or manifest is None:
        return
    report.state_source, report.recovery_point = "backup", manifest.created_at
    placer.state(path / STATE_FILE, f"backup {manifest.id}")


def _newest_config(settings: Settings, backup: Path | None) -> Path | None:
    """The configuration of the newest full backup, else the newest ``config backup`` (``backups/config/<date>``)."""
    if backup is not None and (backup / CONFIG_DIR).is_dir():
        return backup / CONFIG_DIR
    dated = backup_root(settings) / CONFIG_DIR
    candidates = sorted(p for p in dated.iterdir() if p.is_dir()) if dated.is_dir() else []
    return candidates[-1] if candidates else None
