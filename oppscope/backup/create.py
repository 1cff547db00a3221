"""``oppscope backup create``: one complete, self-describing backup directory, or none.

Everything is written into ``<backup_path>/.tmp-<id>-<random>/`` and synced, the manifest last, then the
directory is renamed to ``<backup_path>/<id>/``: a crash at any point leaves a hidden temporary directory that
``backup list`` ignores and ``backup prune`` removes, never a half backup that looks complete.

A backup holds the state database (saved analyses and tokens), the current history snapshot, the published
model when it was fitted on that snapshot (so a recovered service starts without refitting: a shorter RTO),
the applied configuration directory, the releases' metadata and the sample marker.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import structlog

from oppscope import __version__
from oppscope.backup.copies import backup_history, backup_state
from oppscope.backup.manifest import (
    CONFIG_DIR,
    DATA_FILES_DIR,
    HISTORY_FILE,
    MODELS_DIR,
    RELEASES_DIR,
    STATE_FILE,
    BackupError,
    Kind,
    Manifest,
    describe_files,
    utc_text,
    write_manifest,
)
from oppscope.config import Settings
from oppscope.durable import fsync_path, fsync_tree
from oppscope.engines.cache import POINTER, open_model_cache
from oppscope.engines.loading import SAMPLE_MARKER

log = structlog.get_logger(__name__)

RELEASE_LINKS = ("current", "previous")


def create_backup(settings: Settings, kind: Kind = Kind.daily) -> Manifest:
    root = settings.backup_path.resolve()
    _refuse_inside_data_dir(settings, root)
    root.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    backup_id = _new_id(root, created, kind)
    tmp = root / f".tmp-{backup_id}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        state = backup_state(settings.state_path, tmp / STATE_FILE)
        history = backup_history(settings.history_path, tmp / HISTORY_FILE)
        model_id = _copy_published_model(settings, tmp / MODELS_DIR, history.snapshot_id if history else None)
        if settings.config_path.is_dir():
            shutil.copytree(settings.config_path, tmp / CONFIG_DIR)
        releases = _copy_release_metadata(settings.releases_path, tmp / RELEASES_DIR)
        marker = settings.data_dir / SAMPLE_MARKER
        if marker.is_file():
            (tmp / DATA_FILES_DIR).mkdir()
            shutil.copy2(marker, tmp / DATA_FILES_DIR / SAMPLE_MARKER)
        manifest = Manifest(
            id=backup_id,
            kind=kind,
            created_at=utc_text(created),
            oppscope_version=__version__,
            sqlite_version=sqlite3.sqlite_version,
            duckdb_version=duckdb.__version__,
            schema_revision=state.revision,
            history_snapshot_id=history.snapshot_id if history else None,
            model_id=model_id,
            row_counts={**state.counts, "history_rows": history.rows if history else 0},
            newest_analysis_at=state.newest_analysis_at,
            releases=releases,
            files=describe_files(tmp),
        )
        write_manifest(tmp, manifest)
        fsync_tree(tmp)
        tmp.rename(root / backup_id)
        fsync_path(root)  # the rename itself on disk, not only the files
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("backup created", backup_id=backup_id, kind=kind.value, files=len(manifest.files))
    return manifest


def _refuse_inside_data_dir(settings: Settings, root: Path) -> None:
    """A backup inside the data directory is lost with it: the one failure backups exist for."""
    data = settings.data_dir.resolve()
    if root == data or data in root.parents:
        raise BackupError(
            "backup_dir_inside_data_dir",
            f"the backup directory {root} is inside the data directory {data}: losing the data directory would "
            "lose the backups too; set OPPSCOPE_BACKUP_DIR to a directory outside it",
            {"backup_dir": str(root), "data_dir": str(data)},
        )


def _new_id(root: Path, created: datetime, kind: Kind) -> str:
    base = f"{created.strftime('%Y%m%dT%H%M%SZ')}-{kind.value}"
    candidate, n = base, 1
    while (root / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _copy_published_model(settings: Settings, target: Path, snapshot_id: str | None) -> str | None:
    """The published model, when it belongs to the snapshot being backed up (else it would be refitted anyway)."""
    published = open_model_cache(settings).published()
    if published is None or snapshot_id is None or published.snapshot_id != snapshot_id:
        return None
    source = settings.model_cache_dir / published.model_id
    if not source.is_dir():
        return None
    target.mkdir()
    shutil.copytree(source, target / published.model_id)
    (target / POINTER).write_text(json.dumps({"model_id": published.model_id, "snapshot_id": published.snapshot_id}))
    return published.model_id


def _copy_release_metadata(releases: Path, target: Path) -> dict[str, str | None]:
    """Each release's ``release.json`` (the venvs are reinstalled from the lock, not backed up) and the links."""
    links: dict[str, str | None] = {
        name: (releases / name).readlink().name if (releases / name).is_symlink() else None for name in RELEASE_LINKS
    }
    metadata = sorted(releases.glob("*/release.json")) if releases.is_dir() else []
    for path in metadata:
        if path.parent.name in RELEASE_LINKS:
            continue
        (target / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.parent.name / "release.json")
    if metadata or any(links.values()):
        target.mkdir(parents=True, exist_ok=True)
        (target / "links.json").write_text(json.dumps(links))
    return links
