"""Backups on real SQLite and DuckDB files: create, verify, refuse damaged or newer ones, keep what a restore
replaces, retention, a crash mid-backup, and consistency while another process writes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oppscope.backup import BackupError, Kind, create_backup, prune, restore_backup, verify_backups
from oppscope.backup import create as create_module
from oppscope.backup.continuous import litestream_binary, replica_dir, write_config
from oppscope.backup.drill import backup_test, dr_test
from oppscope.backup.manifest import describe_files, read_manifest, sha256_of, write_manifest
from oppscope.backup.processes import processes_using
from oppscope.config import Settings
from oppscope.web.app import create_app
from tests.backup.conftest import Cli, post_analyses
from tests.web.conftest import WebSettings, serving


def _with_analyses(settings: Settings, names: list[str]) -> list[str]:
    with serving(create_app(settings)) as url:
        return [a["id"] for a in post_analyses(url, names)]


def _state_ids(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT id FROM analyses")}
    finally:
        connection.close()


def test_a_backup_holds_everything_with_checksums_and_verifies(web_settings: WebSettings, run_cli: Cli) -> None:
    settings = web_settings()
    ids = _with_analyses(settings, ["Backup one", "Backup two"])
    settings.config_path.mkdir()
    (settings.config_path / "overlay.toml").write_text('log_level = "info"\n')
    release = settings.releases_path / "r1"
    release.mkdir(parents=True)
    (release / "release.json").write_text(json.dumps({"id": "r1", "version": "0.1.0"}))
    (settings.releases_path / "current").symlink_to("r1")

    code, body = run_cli("backup", "create", "--kind", "weekly", "--data-dir", str(settings.data_dir))
    assert code == 0, body
    backup = settings.backup_path / body["id"]
    manifest = read_manifest(backup)
    assert manifest.kind is Kind.weekly and manifest.schema_revision == "0001"
    assert manifest.row_counts["analyses"] == 2 and manifest.row_counts["history_rows"] == 600
    assert manifest.model_id is not None and manifest.releases == {"current": "r1", "previous": None}
    names = {f.path for f in manifest.files}
    assert {"state.sqlite", "history.duckdb", "config/overlay.toml", "releases/r1/release.json"} <= names
    assert all(sha256_of(backup / f.path) == f.sha256 for f in manifest.files)
    assert _state_ids(backup / "state.sqlite") == set(ids)
    assert settings.data_dir.resolve() not in backup.resolve().parents  # outside the data directory

    code, body = run_cli("backup", "verify", "--data-dir", str(settings.data_dir))
    assert code == 0 and body["ok"] and body["backups"][0]["id"] == manifest.id
    code, body = run_cli("backup", "list", "--data-dir", str(settings.data_dir))
    assert [b["id"] for b in body["backups"]] == [manifest.id]

    report = backup_test(settings)
    assert report.ok, report.as_dict()
    assert (report.comparison.compared, report.comparison.identical) == (2, 2)

    (settings.config_path / "overlay.toml").write_text('log_level = "debug"\n')  # a bad change to undo
    code, body = run_cli("recover", "config", "--yes", "--data-dir", str(settings.data_dir))
    assert code == 0 and body["restored"] == ["config"], body
    assert (settings.config_path / "overlay.toml").read_text() == 'log_level = "info"\n'
    assert (Path(body["set_aside"]) / "config" / "config" / "overlay.toml").read_text() == 'log_level = "debug"\n'


def test_corrupted_and_truncated_backups_are_detected_and_refused(web_settings: WebSettings, run_cli: Cli) -> None:
    settings = web_settings()
    _with_analyses(settings, ["Kept"])
    corrupted, truncated = create_backup(settings), create_backup(settings)
    with (settings.backup_path / corrupted.id / "history.duckdb").open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xff" * 16)
    state = settings.backup_path / truncated.id / "state.sqlite"
    state.write_bytes(state.read_bytes()[:1024])
    live = sha256_of(settings.state_path)

    code, body = run_cli("backup", "verify", "--data-dir", str(settings.data_dir))
    assert code == 1 and not body["ok"]
    problems = {b["id"]: b["problems"] for b in body["backups"]}
    assert problems[corrupted.id] == ["history.duckdb is corrupted: its sha256 differs from the manifest's"]
    size = next(f.size for f in truncated.files if f.path == "state.sqlite")
    assert problems[truncated.id] == [f"state.sqlite is truncated: 1024 bytes, the manifest says {size}"]

    for backup in (corrupted, truncated):
        code, body = run_cli("restore", backup.id, "--yes", "--data-dir", str(settings.data_dir))
        assert code == 2 and body["error"]["code"] == "backup_unusable", body
        assert f"backup {backup.id} cannot be restored" in body["error"]["message"]
    assert sha256_of(settings.state_path) == live  # nothing was touched


def test_a_backup_from_a_newer_schema_is_refused(web_settings: WebSettings) -> None:
    settings = web_settings()
    manifest = create_backup(settings)
    backup = settings.backup_path / manifest.id
    connection = sqlite3.connect(backup / "state.sqlite")
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    connection.close()
    # A consistent backup by a newer version: its checksums and manifest agree with its files.
    write_manifest(backup, manifest.model_copy(update={"schema_revision": "0099", "files": describe_files(backup)}))
    with pytest.raises(BackupError) as refused:
        restore_backup(settings, manifest.id, yes=True)
    assert refused.value.code == "backup_schema_newer"
    assert "0099" in refused.value.message and "newer version" in refused.value.message


def test_a_restore_keeps_what_it_replaces_and_refuses_a_running_server(web_settings: WebSettings) -> None:
    settings = web_settings()
    first = _with_analyses(settings, ["Before the backup"])
    manifest = create_backup(settings)
    later = _with_analyses(settings, ["After the backup"])

    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sqlite3,time; c=sqlite3.connect({str(settings.state_path)!r}); time.sleep(60)"]
    )
    try:
        deadline = time.monotonic() + 30
        while holder.pid not in processes_using(settings):  # until the holder has the file open
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with pytest.raises(BackupError) as refused:
            restore_backup(settings, manifest.id, yes=False)
        assert refused.value.code == "server_running" and str(holder.pid) in refused.value.message
        assert "stop it first" in refused.value.message
    finally:
        holder.kill()
        holder.wait()

    report = restore_backup(settings, manifest.id, yes=False)
    assert _state_ids(settings.state_path) == set(first)
    assert report.set_aside is not None and Path(report.set_aside).parent == settings.backup_path.resolve()
    assert _state_ids(Path(report.set_aside) / "data" / "state.sqlite") == set(first + later)


def test_prune_follows_retention_per_kind_and_keeps_the_newest(web_settings: WebSettings) -> None:
    settings = web_settings(backup_retention_daily_days=30, backup_retention_weekly_days=365)
    daily, weekly = create_backup(settings, Kind.daily), create_backup(settings, Kind.weekly)
    newest = create_backup(settings, Kind.daily)
    report = prune(settings, now=datetime.now(UTC) + timedelta(days=31))
    assert report.removed == [daily.id] and report.kept == [weekly.id, newest.id]
    assert not (settings.backup_path / daily.id).exists()
    report = prune(settings, now=datetime.now(UTC) + timedelta(days=400))
    assert report.removed == [weekly.id] and report.kept == [newest.id]  # the newest stays, however old


def test_a_crash_during_a_backup_leaves_no_backup(web_settings: WebSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = web_settings()

    def crash(*_: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(create_module, "backup_history", crash)
    with pytest.raises(OSError, match="disk gone"):
        create_backup(settings)
    assert list(settings.backup_path.iterdir()) == []
    assert not verify_backups(settings).ok


WRITER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30)
c.execute("PRAGMA journal_mode=WAL")
i = 0
while True:
    with c:  # two rows per transaction: a consistent copy always holds an even number
        for _ in range(2):
            c.execute("INSERT INTO api_tokens (id, name, secret_sha256, scopes, created_at) "
                      "VALUES (?, 'w', 'x', 'read', '2026-01-01T00:00:00.000000Z')", (f"t{i}",))
            i += 1
"""


def test_a_backup_is_consistent_while_another_process_writes(web_settings: WebSettings) -> None:
    settings = web_settings()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(settings.state_path)])
    try:
        time.sleep(1.0)
        counts = []
        for _ in range(3):
            manifest = create_backup(settings)
            counts.append(manifest.row_counts["api_tokens"])
            assert manifest.row_counts["api_tokens"] % 2 == 0
        assert writer.poll() is None and counts[-1] > counts[0] > 0
    finally:
        writer.kill()
        writer.wait()
    report = verify_backups(settings)
    assert report.ok, report.as_dict()


def test_schedule_prints_the_cron_entries(web_settings: WebSettings, run_cli: Cli) -> None:
    settings = web_settings()
    code, body = run_cli("backup", "schedule", "--data-dir", str(settings.data_dir))
    assert code == 0 and not body["installed"]
    lines = "\n".join(body["lines"])
    for kind in ("daily", "weekly", "monthly"):
        assert f"backup create --kind {kind}" in lines
    assert "backup prune" in lines and str(settings.data_dir.resolve()) in lines


def test_a_dr_test_without_any_backup_is_a_failed_report(web_settings: WebSettings) -> None:
    """What the monthly checklist shows: not ok, with the reason, rather than a crash."""
    report = dr_test(web_settings())
    assert not report.ok
    assert report.problems and "nothing to recover" in report.problems[0]
    assert report.as_dict()["ok"] is False


def test_a_damaged_replica_fails_verify(web_settings: WebSettings) -> None:
    settings = web_settings()
    _with_analyses(settings, ["Replicated"])
    config = write_config(settings)
    subprocess.run([str(litestream_binary()), "replicate", "-once", "-config", str(config)], check=True, timeout=120)
    report = verify_backups(settings)
    assert report.replica is not None and report.replica.ok, report.as_dict()
    assert report.replica.counts["analyses"] == 1
    for ltx in (replica_dir(settings) / "ltx").rglob("*.ltx"):  # whichever files a restore plan picks
        data = bytearray(ltx.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
        ltx.write_bytes(bytes(data))
    report = verify_backups(settings)
    assert report.replica is not None and not report.replica.ok
    assert "litestream restore failed" in report.replica.problems[0]
