"""A real ``oppscope serve --workers 2``: after a history import every worker moves to the new snapshot, together,
promptly, with or without traffic, and lets the old model go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oppscope.config import Settings, load_settings
from oppscope.engines import loading, procfs
from oppscope.engines.cache import FileModelCache
from tests.examples import OPPORTUNITY
from tests.web.conftest import free_port, migrate

ROWS = 600
OPPSCOPE = str(Path(sys.executable).parent / "oppscope")
# Generous for a loaded CI machine: the history check (every 2 s), a fit in a child process, the switch.
SWITCH_DEADLINE_SECONDS = 90


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path / "data", sample_rows=ROWS)
    loading.prepare_history(settings)
    loading.load_engine(settings)
    migrate(settings)
    return settings


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "OPPSCOPE_SAMPLE_ROWS": str(ROWS), "OPPSCOPE_HISTORY_CHECK_SECONDS": "2"}
    process = subprocess.Popen(
        [OPPSCOPE, "serve", "--data-dir", str(settings.data_dir), "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while len(procfs.children(process.pid)) < 2 or not _ready(url):
            assert process.poll() is None and time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield url, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _snapshot_answered(url: str) -> str:
    # A new connection per request, so that both workers answer (the kernel spreads accepts over them).
    answer = httpx.post(f"{url}/api/v1/analyses", json=OPPORTUNITY, timeout=60, headers={"Connection": "close"})
    assert answer.status_code == 201, answer.text
    snapshot: str = answer.json()["provenance"]["history_snapshot_id"]
    return snapshot


def _import_sample(settings: Settings, rows: int) -> None:
    subprocess.run(
        [OPPSCOPE, "history", "sample", "--rows", str(rows), "--replace", "--data-dir", str(settings.data_dir)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _published(settings: Settings) -> str:
    published = FileModelCache(settings.model_cache_dir).published()
    assert published is not None
    return published.model_id


Server = tuple[str, subprocess.Popen[bytes]]


def test_workers_switch_together_after_an_import(settings: Settings, server: Server) -> None:
    url, process = server
    workers = procfs.children(process.pid)
    first_model = _published(settings)
    old = _snapshot_answered(url)
    # Ready means one worker answered; on a loaded machine the other may still be mapping the model.
    _wait_until_mapped(settings, workers, first_model)

    _import_sample(settings, ROWS + 100)
    imported = time.monotonic()
    answers: list[tuple[float, str]] = []
    while time.monotonic() - imported < SWITCH_DEADLINE_SECONDS:
        answers.append((time.monotonic() - imported, _snapshot_answered(url)))
        new = [i for i, (_, snapshot) in enumerate(answers) if snapshot != old]
        if new and len(answers) - new[0] >= 20:
            break
    snapshots = [snapshot for _, snapshot in answers]
    assert any(s != old for s in snapshots), f"no worker switched within {SWITCH_DEADLINE_SECONDS} s"
    first_new = next(i for i, s in enumerate(snapshots) if s != old)
    after = snapshots[first_new:]
    assert len(after) >= 20 and set(after) == {snapshots[first_new]}, "an answer after the switch named another"
    assert set(snapshots[:first_new]) <= {old}
    second_model = _published(settings)
    assert second_model != first_model
    # The idle worker's timer (1 s) switches it too, and it lets the old model go.
    _wait_until_mapped(settings, workers, second_model)


def _wait_until_mapped(settings: Settings, workers: list[int], model_id: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        mapped = {pid: procfs.mapped_models(pid, settings.model_cache_dir) for pid in workers}
        if all(models == {model_id} for models in mapped.values()):
            return
        assert time.monotonic() < deadline, f"workers map {mapped}, not only {model_id}"
        time.sleep(0.25)


def test_idle_workers_switch_and_release_the_old_model(settings: Settings, server: Server) -> None:
    """No request at all after the import: each worker's timer still moves it to the new model."""
    _, process = server
    workers = procfs.children(process.pid)
    first_model = _published(settings)
    _import_sample(settings, ROWS + 50)
    deadline = time.monotonic() + SWITCH_DEADLINE_SECONDS
    mapped = {pid: procfs.mapped_models(pid, settings.model_cache_dir) for pid in workers}
    while _published(settings) == first_model or any(models != {_published(settings)} for models in mapped.values()):
        assert time.monotonic() < deadline, mapped
        time.sleep(0.5)
        mapped = {pid: procfs.mapped_models(pid, settings.model_cache_dir) for pid in workers}
