"""What a backup is: a directory named by its id, its files, and ``manifest.json`` describing them.

The manifest is written last, inside a temporary directory that is renamed into place only when complete, so a
directory under the backup path with a valid manifest is a whole backup. Every file's size and sha256 are in
it, which is how truncation and corruption are told apart from a good copy without trusting the databases to
notice, and the schema revision and row counts let a restore refuse what this code cannot read and a test
compare what it restored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from oppscope.errors import ErrorKind, OppscopeError

MANIFEST: Final = "manifest.json"
FORMAT: Final = 1
STATE_FILE: Final = "state.sqlite"
HISTORY_FILE: Final = "history.duckdb"
MODELS_DIR: Final = "models"
CONFIG_DIR: Final = "config"
RELEASES_DIR: Final = "releases"
DATA_FILES_DIR: Final = "data"  # small files of the data directory worth keeping (the sample marker)
CONTINUOUS_DIR: Final = "continuous"
PRE_RESTORE_PREFIX: Final = "pre-restore-"
BACKUP_ID: Final = re.compile(r"^\d{8}T\d{6}Z-(daily|weekly|monthly)(-\d+)?$")


class Kind(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class BackupError(OppscopeError):
    """A backup that cannot be made, found, trusted or restored here; the message says which and what to do."""

    default_kind = ErrorKind.invalid


class FileEntry(BaseModel):
    path: str
    size: int
    sha256: str


class Manifest(BaseModel):
    format: int = FORMAT
    id: str
    kind: Kind
    created_at: str
    oppscope_version: str
    sqlite_version: str
    duckdb_version: str
    schema_revision: str | None
    history_snapshot_id: str | None
    model_id: str | None
    # analyses, api_tokens (the state database) and history_rows
    row_counts: dict[str, int]
    newest_analysis_at: str | None
    releases: dict[str, str | None]  # current and previous release ids, as the links named them
    files: list[FileEntry]

    @property
    def created(self) -> datetime:
        return parse_utc(self.created_at)

    def summary(self) -> dict[str, Any]:
        """What ``backup list`` shows: everything but the file list."""
        body = self.model_dump(mode="json", exclude={"files"})
        body["files"] = len(self.files)
        body["bytes"] = sum(f.size for f in self.files)
        return body


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time; a naive one is read as UTC (what every timestamp here is)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def describe_files(root: Path) -> list[FileEntry]:
    """Every regular file under ``root`` but the manifest, in a stable order."""
    return [
        FileEntry(path=p.relative_to(root).as_posix(), size=p.stat().st_size, sha256=sha256_of(p))
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    ]


def write_manifest(root: Path, manifest: Manifest) -> None:
    path = root / MANIFEST
    with path.open("w", encoding="utf-8") as fh:
        fh.write(manifest.model_dump_json(indent=2))
        fh.flush()
        os.fsync(fh.fileno())


def read_manifest(root: Path) -> Manifest:
    """The manifest of the backup in ``root``; a missing or unreadable one is a ``BackupError``."""
    path = root / MANIFEST
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise BackupError("backup_incomplete", f"{root.name} has no manifest.json", {"path": str(root)}) from exc
    except (OSError, ValueError, ValidationError) as exc:
        raise BackupError(
            "backup_corrupted",
            f"the manifest of {root.name} is unreadable: {str(exc).splitlines()[0][:200]}",
            {"path": str(path)},
        ) from exc
