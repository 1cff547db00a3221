"""The applied configuration file: ``config apply``, ``config backup`` and ``config restore``.

The file is ``<config_path>/oppscope.toml``. Every change is judged before anything is written (the same
``inspect_settings`` every command loads with, given the new file's table), the current file is backed up first,
and the new one replaces it atomically (written beside it, fsynced, renamed), so a crash leaves the old file or
the new one, never half of either. A backup is ``<backup_path>/config/<YYYY-MM-DD>/`` with a manifest holding each
file's sha256; a second backup on the same day moves the earlier one aside to ``<YYYY-MM-DD>.<HHMMSSffffff>``
rather than overwrite it. Secrets are never in a backup: they are not in the file (``apply`` refuses them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from oppscope import __version__
from oppscope.config import APPLIED_FILE
from oppscope.configuration.layers import ConfigError, Inspection, Problem, inspect_settings, read_toml
from oppscope.durable import fsync_path, write_atomically

MANIFEST = "manifest.json"
BACKUP_KIND = "oppscope-config"
CONFIG_FILE_MODE = 0o644  # the applied file holds no secret (they live in config/secrets/), readable like any config


@dataclass(frozen=True)
class Backup:
    path: Path
    created_at: str
    files: dict[str, dict[str, Any]]
    moved_aside: Path | None = None  # the same day's earlier backup, renamed to make room

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "created_at": self.created_at, "files": self.files}


def _locations(inspection: Inspection) -> tuple[Path, Path]:
    """``config_path`` and ``backup_path``; from the flags and environment alone when the settings do not load
    (a broken applied file must still be replaceable)."""
    if inspection.settings is not None:
        return inspection.settings.config_path, inspection.settings.backup_path
    given = {**inspection.layers.get("env", {}), **inspection.layers.get("cli", {})}
    backup_dir = given.get("backup_dir") or Path(given.get("data_dir") or "data").resolve().parent / "backups"
    return inspection.config_path, Path(backup_dir)


def config_backups_dir(backup_path: Path) -> Path:
    return backup_path / "config"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def judge(table: dict[str, Any], overrides: dict[str, Any]) -> list[Problem]:
    """Every error the settings would have with ``table`` as the applied file."""
    return inspect_settings(overrides, applied=table).errors


def backup_config(overrides: dict[str, Any] | None = None, *, now: datetime | None = None) -> Backup:
    """Copy the applied file (if any) into today's backup directory, with a manifest of sha256s."""
    inspection = inspect_settings(overrides)
    config_path, backup_path = _locations(inspection)
    moment = now or datetime.now(UTC)
    root = config_backups_dir(backup_path)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{moment:%Y-%m-%d}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    files: dict[str, dict[str, Any]] = {}
    applied = config_path / APPLIED_FILE
    if applied.is_file():
        data = applied.read_bytes()
        (staging / APPLIED_FILE).write_bytes(data)
        files[APPLIED_FILE] = {"sha256": _sha256(data), "bytes": len(data)}
    manifest = {
        "kind": BACKUP_KIND,
        "created_at": moment.isoformat(),
        "oppscope_version": __version__,
        "profile": inspection.profile,
        "source": str(applied),
        "files": files,
        "settings": inspection.values(),  # for reading; secrets are masked
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    for item in staging.iterdir():
        with item.open("rb") as handle:
            os.fsync(handle.fileno())
    target, moved = root / f"{moment:%Y-%m-%d}", None
    if target.exists():
        earlier = _read_manifest(target).get("created_at", "")
        stamp = datetime.fromisoformat(earlier) if earlier else datetime.fromtimestamp(target.stat().st_mtime, UTC)
        moved = root / f"{moment:%Y-%m-%d}.{stamp:%H%M%S%f}"
        target.rename(moved)
    staging.rename(target)
    fsync_path(root)
    return Backup(target, str(manifest["created_at"]), files, moved)


def _read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def list_backups(overrides: dict[str, Any] | None = None) -> list[Backup]:
    _, backup_path = _locations(inspect_settings(overrides))
    root = config_backups_dir(backup_path)
    found = []
    for directory in sorted(root.iterdir()) if root.is_dir() else ():
        manifest = _read_manifest(directory)
        unfinished = directory.name.startswith(".")  # a backup being written, or left by a crash
        if directory.is_dir() and not unfinished and manifest.get("kind") == BACKUP_KIND:
            found.append(Backup(directory, str(manifest.get("created_at")), dict(manifest.get("files") or {})))
    return found


def verify_backup(directory: Path) -> dict[str, bytes]:
    """The backed-up files' bytes, after checking each against the manifest; refuses a damaged backup."""
    manifest = _read_manifest(directory)
    if manifest.get("kind") != BACKUP_KIND or not isinstance(manifest.get("files"), dict):
        raise ConfigError("backup_corrupted", f"{directory} has no readable configuration manifest")
    contents, damaged = {}, []
    for name, entry in manifest["files"].items():
        path = directory / Path(name).name
        data = path.read_bytes() if path.is_file() else None
        if data is None or len(data) != entry.get("bytes") or _sha256(data) != entry.get("sha256"):
            damaged.append(name)
        else:
            contents[name] = data
    if damaged:
        raise ConfigError(
            "backup_corrupted",
            f"{directory}: {', '.join(damaged)} missing or not matching its sha256; nothing was restored",
            {"files": damaged},
        )
    return contents


def _parse(data: bytes, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("invalid_toml", f"{label} is not valid TOML: {exc}") from exc


def _changes(before: Inspection, after: Inspection) -> dict[str, dict[str, Any]]:
    old, new = before.values(), after.values()
    return {k: {"from": old.get(k), "to": v} for k, v in new.items() if old.get(k) != v}


def apply_config(source: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Make ``source`` the applied file: judged first, the current file backed up, then replaced atomically."""
    given = dict(overrides or {})
    table, problems = read_toml(source)
    if table is None:
        raise ConfigError.from_problems(f"{source} cannot be applied; nothing was changed", problems)
    errors = judge(table, given)
    if errors:
        raise ConfigError.from_problems(f"{source} cannot be applied; nothing was changed", errors)
    before = inspect_settings(given)
    config_path, _ = _locations(before)
    backup = backup_config(given) if (config_path / APPLIED_FILE).is_file() else None
    write_atomically(config_path / APPLIED_FILE, source.read_bytes(), CONFIG_FILE_MODE)
    after = inspect_settings(given)
    return {
        "applied": str(config_path / APPLIED_FILE),
        "backup": str(backup.path) if backup else None,
        "changed": _changes(before, after),
    }


def restore_config(backup_date: date, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Put the applied file back as it was in that day's backup: verified and judged, the current one kept."""
    given = dict(overrides or {})
    before = inspect_settings(given)
    config_path, backup_path = _locations(before)
    directory = config_backups_dir(backup_path) / backup_date.isoformat()
    if not directory.is_dir():
        available = sorted(b.path.name for b in list_backups(given))
        raise ConfigError(
            "backup_not_found", f"no configuration backup of {backup_date.isoformat()}", {"available": available}
        )
    contents = verify_backup(directory)
    restored = contents.get(APPLIED_FILE)
    if restored is not None:
        errors = judge(_parse(restored, str(directory / APPLIED_FILE)), given)
        if errors:
            raise ConfigError.from_problems(f"{directory} is not valid for this version; nothing was restored", errors)
    applied = config_path / APPLIED_FILE
    kept = backup_config(given) if applied.is_file() else None
    if restored is None:
        applied.unlink(missing_ok=True)  # the backup was of the defaults and profile alone
    else:
        write_atomically(applied, restored, CONFIG_FILE_MODE)
    after = inspect_settings(given)
    if kept is not None and kept.moved_aside is not None and kept.path == directory:
        directory = kept.moved_aside  # today's backup was restored, and made room for the copy kept of the current
    return {
        "restored": str(directory),
        "applied": str(applied) if restored is not None else None,
        "kept": str(kept.path) if kept else None,
        "changed": _changes(before, after),
    }
