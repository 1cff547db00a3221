"""Recovery end to end: analyses saved through the API, backed up, the data directory deleted, ``recover full``,
then a real ``oppscope serve`` answering every analysis and the history identical; point-in-time restores through
a real litestream replica; and the DR rehearsal's RTO and RPO."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from oppscope.backup.continuous import replica_latest
from oppscope.backup.manifest import sha256_of
from oppscope.config import Settings
from oppscope.web.app import create_app
from tests.backup.conftest import Cli, post_analyses
from tests.backup.test_backups import _state_ids
from tests.web.conftest import WebSettings, free_port, serving, wait_until_answering

pytestmark = pytest.mark.timeout(900)

OPPSCOPE = str(Path(sys.executable).parent / "oppscope")


def _served_view(url: str, ids: list[str]) -> tuple[list[dict[str, object]], dict[str, object]]:
    with httpx.Client(base_url=url, timeout=60) as client:
        analyses = []
        for analysis_id in ids:
            body = client.get(f"/api/v1/analyses/{analysis_id}").json()
            analyses.append({k: body.get(k) for k in ("id", "created_at", "input", "predictions")})
        stats = client.get("/api/v1/history/stats").json()
    return analyses, {"rows": stats["rows"], "snapshot_id": stats["snapshot_id"]}


def test_recover_full_after_losing_the_data_directory_then_serve(web_settings: WebSettings, run_cli: Cli) -> None:
    settings = web_settings()
    with serving(create_app(settings)) as url:
        ids = [a["id"] for a in post_analyses(url, ["Lost one", "Lost two", "Lost three"])]
        before = _served_view(url, ids)
    code, body = run_cli("backup", "create", "--data-dir", str(settings.data_dir))
    assert code == 0, body

    shutil.rmtree(settings.data_dir)  # the disaster
    code, body = run_cli("recover", "full", "--yes", "--data-dir", str(settings.data_dir))
    assert code == 0, body
    assert {"state", "history", "model"} <= set(body["restored"]) and body["state_source"] == "backup"

    port = free_port()
    env = {**os.environ, "OPPSCOPE_SAMPLE_ROWS": str(settings.sample_rows)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [OPPSCOPE, "serve", "--data-dir", str(settings.data_dir), "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(server, f"{url}/health/ready", timeout_s=600)
        assert _served_view(url, ids) == before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _wait_for_replica(settings: Settings, after: datetime, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        latest = replica_latest(settings)
        if latest is not None and latest > after:
            return
        assert time.monotonic() < deadline, "litestream did not replicate"
        time.sleep(0.5)


def test_a_to_time_restore_holds_exactly_the_analyses_committed_by_then(
    web_settings: WebSettings, run_cli: Cli
) -> None:
    settings = web_settings()
    continuous = subprocess.Popen(
        [OPPSCOPE, "backup", "continuous", "--data-dir", str(settings.data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_replica(settings, datetime(2000, 1, 1, tzinfo=UTC))  # replicating from before the first save
        with serving(create_app(settings)) as url:
            first = [a["id"] for a in post_analyses(url, ["By then one", "By then two"])]
            moment = datetime.now(UTC)
            later = [a["id"] for a in post_analyses(url, ["After one", "After two"])]
        _wait_for_replica(settings, datetime.now(UTC) + timedelta(seconds=1))  # its times are whole seconds
        code, body = run_cli("backup", "verify", "--data-dir", str(settings.data_dir))
        assert body["replica"]["ok"] and body["replica"]["row_counts"]["analyses"] == 4, body
    finally:
        os.killpg(continuous.pid, signal.SIGTERM)
        assert continuous.wait(timeout=60) == 0  # the signal reached litestream, which stopped cleanly

    code, body = run_cli("restore", "--to-time", moment.isoformat(), "--data-dir", str(settings.data_dir))
    assert code == 2 and body["error"]["code"] == "confirmation_required"
    code, body = run_cli("restore", "--to-time", moment.isoformat(), "--yes", "--data-dir", str(settings.data_dir))
    assert code == 0, body
    assert _state_ids(settings.state_path) == set(first)
    assert _state_ids(Path(body["set_aside"]) / "data" / "state.sqlite") == set(first + later)


def test_dr_test_recovers_serves_and_measures_rto_and_rpo(web_settings: WebSettings, run_cli: Cli) -> None:
    settings = web_settings()
    with serving(create_app(settings)) as url:
        post_analyses(url, ["Disaster one", "Disaster two"])
    assert run_cli("backup", "create", "--data-dir", str(settings.data_dir))[0] == 0
    live = (_state_ids(settings.state_path), sha256_of(settings.history_path))

    code, body = run_cli("dr", "test", "--data-dir", str(settings.data_dir))
    assert code == 0, body
    assert body["comparison"]["analyses_identical"] == 2 and body["comparison"]["analyses_missing"] == 0
    assert body["rto_met"] and 0 < body["rto_seconds"] < 900 and body["rpo_met"]
    assert body["served_on"].startswith("http://127.0.0.1:")
    assert (_state_ids(settings.state_path), sha256_of(settings.history_path)) == live  # the live data untouched

    code, body = run_cli("recover", "test", "--data-dir", str(settings.data_dir))
    assert code == 0 and body["comparison"]["analyses_identical"] == 2, body
