"""``oppscope maintenance daily|weekly|monthly``: each item does its job on real files and a real server, and
reports pass, warn, fail or skipped with the reason; a failed item makes the command exit 1."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.config import Settings, load_settings
from oppscope.history.duckdb_store import DuckDBHistoryReader, DuckDBHistoryStore, DuckDBHistoryWriter
from oppscope.maintenance import items
from oppscope.maintenance.dependencies import compare_lock, lock_is_current, project_dir
from oppscope.maintenance.report import Status
from oppscope.ops.logging import LOG_NAME
from oppscope.ops.timeseries import bucket_index, open_timeseries, timeseries_path
from tests.examples import OPPORTUNITY
from tests.maintenance.conftest import ops

runner = CliRunner()


def checklist(name: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["maintenance", name, *args, "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in body["items"]}


def log_request(settings: Settings, status: int, code: str | None, when: datetime) -> None:
    settings.log_path.mkdir(parents=True, exist_ok=True)
    record = {
        "event": "request",
        "timestamp": when.isoformat(),
        "method": "POST",
        "route": "/api/v1/analyses",
        "status": status,
        "duration_ms": 12.0,
        "request_id": "r1",
        "pid": 1,
    }
    if code:
        record["error_code"] = code
    with (settings.log_path / f"{LOG_NAME}.{when:%Y-%m-%d}").open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def count_requests(settings: Settings, requests: int, errors_5xx: int) -> None:
    """The last minute as the workers flush it: ``requests`` answers, ``errors_5xx`` of them server errors."""
    open_timeseries(settings)
    minute = int(time.time() // 60)
    with closing(sqlite3.connect(timeseries_path(settings))) as con, con:
        con.execute("INSERT INTO counts VALUES (?, 'requests', ?)", (minute, requests))
        con.execute("INSERT INTO counts VALUES (?, 'errors_5xx', ?)", (minute, errors_5xx))
        con.execute("INSERT INTO buckets VALUES (?, 'http', ?, ?)", (minute, bucket_index(0.1), requests))


@pytest.mark.slow
def test_daily_and_weekly_against_a_running_two_worker_server(served: ops.Served) -> None:
    settings = served.settings
    for _ in range(3):
        assert httpx.post(f"{served.url}/api/v1/analyses", json=OPPORTUNITY, timeout=120).status_code == 201
    assert httpx.post(f"{served.url}/api/v1/analyses", json={"region": 3}, timeout=60).status_code == 422
    old_log = settings.log_path / f"{LOG_NAME}.{datetime.now(UTC) - timedelta(days=45):%Y-%m-%d}"
    old_log.write_text("{}\n")
    time.sleep(1.5)  # both workers flush their time series
    backup = runner.invoke(app, ["backup", "create", "--json"], env=served.env)  # while the server writes
    assert backup.exit_code == 0, backup.output

    code, daily = checklist("daily", "--url", served.url, env=served.env)
    assert code == 0, daily
    items_ = by_name(daily)
    assert items_["backups"]["status"] == "pass" and len(items_["backups"]["data"]["backups"]) == 1
    assert items_["health"]["status"] == "pass" and items_["health"]["data"]["mode"] == "normal"
    assert items_["error_logs"]["status"] == "pass"
    assert items_["error_logs"]["data"]["errors_4xx"] >= 1 and items_["error_logs"]["data"]["errors_5xx"] == 0
    # No alert but the CPU one, which a loaded test machine may fire at the workers' start, and that only warns.
    assert items_["metrics"]["status"] in ("pass", "warn")
    assert set(items_["metrics"]["data"]["firing"]) <= {"OppscopeCpuHigh"}, items_["metrics"]["data"]["firing"]

    before = httpx.get(f"{served.url}/api/v1/history/stats", timeout=60).json()
    with ThreadPoolExecutor(2) as pool:  # the service keeps answering while the databases are maintained
        load = [
            pool.submit(httpx.post, f"{served.url}/api/v1/analyses", json=OPPORTUNITY, timeout=120) for _ in range(4)
        ]
        code, weekly = checklist("weekly", env=served.env)
        answers = [f.result().status_code for f in load]
    assert code == 0, weekly
    assert answers == [201] * 4
    items_ = by_name(weekly)
    assert items_["capacity_review"]["status"] in ("warn", "pass")  # a minute-old server: not enough data yet
    assert items_["log_cleanup"]["status"] == "pass" and str(old_log) in items_["log_cleanup"]["data"]["removed"]
    assert not old_log.exists()
    vacuum = items_["vacuum"]
    assert vacuum["status"] == "pass", vacuum
    assert vacuum["data"]["state"]["quick_check"] == "ok"
    assert vacuum["data"]["history"]["snapshot_id"] == before["snapshot_id"]
    assert items_["dependencies"]["status"] in ("pass", "warn"), items_["dependencies"]
    assert items_["dependencies"]["data"]["mismatched"] == {}

    after = httpx.get(f"{served.url}/api/v1/history/stats", timeout=60).json()
    assert (after["rows"], after["snapshot_id"]) == (before["rows"], before["snapshot_id"])
    assert httpx.get(f"{served.url}/api/v1/analyses", timeout=60).json()["total"] == 7
    assert httpx.post(f"{served.url}/api/v1/analyses", json=OPPORTUNITY, timeout=120).status_code == 201

    rehearsal = items.disaster_recovery(settings)  # the monthly DR item, from the backup taken above
    assert rehearsal.status is Status.passed, rehearsal.detail
    assert rehearsal.data["rto_met"] is True and "RTO" in rehearsal.detail
    compared = rehearsal.data["comparison"]
    # The 3 analyses of the backup come back identical; the 5 made after it are what the RPO measures.
    assert (compared["analyses_identical"], compared["analyses_missing"], compared["analyses_different"]) == (3, 5, [])


def test_daily_fails_with_the_reason_when_the_service_is_not_ready(tmp_path: Path) -> None:
    code, body = checklist("daily", "--data-dir", str(tmp_path / "data"))
    assert code == 1 and body["status"] == "fail"
    health = by_name(body)["health"]
    assert health["status"] == "fail" and "history" in health["detail"]
    assert [item["name"] for item in body["items"]] == ["health", "error_logs", "metrics", "backups"]
    backups = by_name(body)["backups"]
    assert backups["status"] == "fail" and backups["detail"]  # no backup at all: never a silent pass


def test_server_errors_above_the_warning_rate_fail_the_log_review_and_the_metrics(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    now = datetime.now(UTC)
    for _ in range(3):
        log_request(settings, 503, "history_busy", now - timedelta(minutes=1))
    log_request(settings, 422, "invalid_input", now - timedelta(minutes=1))
    count_requests(settings, 40, 3)  # 7.5%: past the warning (2%) and the critical (5%) error rate
    review = items.error_logs(settings)
    assert review.status is Status.failed
    assert "history_busy×3" in review.detail and review.data["errors_5xx"] == 3
    alerts = items.metrics(settings)
    assert alerts.status is Status.failed and "OppscopeErrorRateCritical" in alerts.detail


def test_a_few_server_errors_under_the_rate_warn(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    log_request(settings, 500, "internal_error", datetime.now(UTC) - timedelta(minutes=2))
    count_requests(settings, 1000, 1)
    assert items.error_logs(settings).status is Status.warn
    assert items.metrics(settings).status is Status.passed


def test_compaction_keeps_rows_and_snapshot_while_a_reader_holds_the_old_file(tmp_path: Path) -> None:
    from oppscope.history.sample import generate_sample

    path = tmp_path / "history.duckdb"
    rows = generate_sample(4000, 5).rows
    store = DuckDBHistoryStore(path)
    for part in (rows[:2000], rows[2000:3000], rows[3000:]):  # appending imports grow the copied file
        store.insert_rows(part)
    snapshot, count = store.snapshot_id(), store.row_count()
    store.close()
    with DuckDBHistoryReader(path) as reader:  # opened before: keeps reading its file
        done = DuckDBHistoryWriter(path).compact()
        assert reader.row_count() == count
    assert done.snapshot_id == snapshot and done.bytes_after < done.bytes_before and done.tables >= 2
    with DuckDBHistoryReader(path) as reader:
        assert (reader.snapshot_id(), reader.row_count()) == (snapshot, count)
    assert [p.name for p in path.with_name("history.snapshots").glob(".build-*")] == []


def test_installed_versions_are_compared_with_every_version_the_lock_pins(tmp_path: Path) -> None:
    project = project_dir()
    assert project is not None
    lock = project / "uv.lock"
    assert compare_lock(lock).ok, "this environment was installed from the lock"
    drifted = compare_lock(lock, installed={"duckdb": "0.0.1", "rich": "0.0.2", "left-pad": "1.0"})
    assert set(drifted.mismatched) == {"duckdb", "rich"} and drifted.unlocked == ["left-pad"]

    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(project / name, copy / name)
    assert lock_is_current(copy) == (True, "")
    text = (copy / "pyproject.toml").read_text().replace('"pyyaml>=6",', '"pyyaml>=6",\n  "left-pad-xyz>=1",')
    (copy / "pyproject.toml").write_text(text)
    current, why = lock_is_current(copy)
    assert not current and why


def test_the_security_audit_fails_when_the_vulnerability_service_cannot_be_reached() -> None:
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens
    outcome = items.security_audit({"HTTPS_PROXY": closed, "https_proxy": closed, "ALL_PROXY": closed})
    assert outcome.status is Status.failed
    assert "could not run" in outcome.detail or "could not be audited" in outcome.detail


@pytest.mark.slow
def test_monthly_reports_capacity_and_never_passes_an_audit_it_could_not_do(tmp_path: Path) -> None:
    code, body = checklist("monthly", "--data-dir", str(tmp_path / "data"))
    audit = by_name(body)["security_audit"]
    if audit["status"] == "pass":  # the vulnerability service answered for every locked dependency
        assert audit["data"]["unaudited"] == {} and audit["data"]["audited"] > 50
    else:
        assert audit["status"] == "fail" and audit["detail"] and code == 1
    capacity = by_name(body)["capacity_report"]
    assert capacity["status"] == "warn" and capacity["data"]["window"]["minutes"] == 48 * 60
    rehearsal = by_name(body)["dr_test"]
    assert rehearsal["status"] == "fail" and rehearsal["detail"] and code == 1  # nothing to recover from
