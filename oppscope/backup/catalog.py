"""The backups under the backup path: listing them, the latest, and pruning by the seed's retention.

Only directories named like a backup id (``20261202T013500Z-daily``) count; the continuous replica, the
configuration backups, the pre-restore copies and a crashed backup's hidden temporary directory never do.
Retention is per kind (daily 30 days, weekly 365, monthly 7 years by default), and prune never removes the
newest sound backup, whatever its age: an old backup is better than none.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from oppscope.backup.manifest import BACKUP_ID, BackupError, Kind, Manifest, read_manifest
from oppscope.config import Settings
from oppscope.errors import ErrorKind, OppscopeError


def backup_root(settings: Settings) -> Path:
    return settings.backup_path.resolve()


def backup_dirs(settings: Settings) -> list[Path]:
    """Backup directories, oldest first (by the manifest's time: ids of one second sort by kind, not time)."""
    root = backup_root(settings)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and BACKUP_ID.match(p.name)), key=_created_key)


def _created_key(path: Path) -> tuple[str, str]:
    try:
        return read_manifest(path).created_at, path.name
    except OppscopeError:  # unreadable: placed by the time in its name (that second's start)
        return f"{path.name[:4]}-{path.name[4:6]}-{path.name[6:11]}:{path.name[11:13]}:{path.name[13:15]}", path.name


def manifests(settings: Settings) -> list[Manifest]:
    """The readable backups, oldest first; an unreadable one is ``backup verify``'s to report."""
    found = []
    for path in backup_dirs(settings):
        try:
            found.append(read_manifest(path))
        except OppscopeError:
            continue
    return found


def backup_path_of(settings: Settings, backup_id: str) -> Path:
    path = backup_root(settings) / backup_id
    if not BACKUP_ID.match(backup_id) or not path.is_dir():
        raise BackupError(
            "backup_not_found",
            f"there is no backup {backup_id!r} in {backup_root(settings)} (`oppscope backup list` shows them)",
            {"backup_id": backup_id},
            kind=ErrorKind.not_found,
        )
    return path


def retention(settings: Settings) -> dict[Kind, timedelta]:
    return {
        Kind.daily: timedelta(days=settings.backup_retention_daily_days),
        Kind.weekly: timedelta(days=settings.backup_retention_weekly_days),
        Kind.monthly: timedelta(days=settings.backup_retention_monthly_days),
    }


@dataclass
class PruneReport:
    removed: list[str]
    kept: list[str]
    leftovers_removed: list[str]
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "removed": self.removed,
            "kept": self.kept,
            "leftovers_removed": self.leftovers_removed,
            "dry_run": self.dry_run,
        }


def prune(settings: Settings, *, now: datetime | None = None, dry_run: bool = False) -> PruneReport:
    """Remove the backups older than their kind's retention, and temporary directories of crashed backups."""
    now = now or datetime.now(UTC)
    keep_for = retention(settings)
    found = manifests(settings)
    newest = found[-1].id if found else None
    removed, kept = [], []
    for manifest in found:
        expired = now - manifest.created > keep_for[manifest.kind]
        if expired and manifest.id != newest:
            removed.append(manifest.id)
            if not dry_run:
                shutil.rmtree(backup_root(settings) / manifest.id)
        else:
            kept.append(manifest.id)
    leftovers = []
    root = backup_root(settings)
    for tmp in sorted(root.glob(".tmp-*")) if root.is_dir() else []:
        # A backup in progress is younger than this; one older is what a crash left behind.
        if now.timestamp() - tmp.stat().st_mtime > 24 * 3600:
            leftovers.append(tmp.name)
            if not dry_run:
                shutil.rmtree(tmp, ignore_errors=True)
    return PruneReport(removed, kept, leftovers, dry_run)
