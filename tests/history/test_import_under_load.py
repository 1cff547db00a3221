"""An import succeeds while a real server answers a steady read load, and the server then serves its snapshot.

Before snapshots, 3 of 4 imports failed with ``history_locked`` under about 50 requests/s of
``GET /api/v1/history/stats``: DuckDB admits one writer per file, and the server's reads never left a gap.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from oppscope.config import load_settings
from oppscope.engines.loading import load_engine, prepare_history
from oppscope.history.export import write_rows
from oppscope.web.app import create_app
from tests.history.conftest import make_row
from tests.web.conftest import migrate, serving

READS_PER_SECOND = 50
IMPORTS = 4


def _read_steadily(url: str, stop: threading.Event, statuses: Counter[int | str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                statuses[http.get("/api/v1/history/stats").status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            time.sleep(max(0.0, 1 / READS_PER_SECOND - (time.monotonic() - started)))


@pytest.mark.slow
def test_imports_succeed_under_a_steady_read_load(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", sample_rows=300, history_check_seconds=3600)
    prepare_history(settings)
    load_engine(settings)
    migrate(settings)
    files = []
    for n in range(IMPORTS):
        path = tmp_path / f"projects-{n}.csv"
        write_rows([make_row(i) for i in range(1000 + 500 * n)], path, "csv")
        files.append(path)

    statuses: Counter[int | str] = Counter()
    stop = threading.Event()
    with serving(create_app(settings)) as url:
        reader = threading.Thread(target=_read_steadily, args=(url, stop, statuses), daemon=True)
        reader.start()
        time.sleep(1)
        reports = []
        try:
            for path in files:
                done = subprocess.run(
                    [str(Path(sys.executable).with_name("oppscope")), "--data-dir", str(settings.data_dir), "--json",
                     "history", "import", str(path), "--replace"],
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert done.returncode == 0, done.stdout + done.stderr
                reports.append(httpx.Response(200, content=done.stdout).json())
            time.sleep(0.5)
        finally:
            stop.set()
            reader.join(timeout=30)
        served = httpx.get(f"{url}/api/v1/history/stats", timeout=30).json()

    assert [r["rows_imported"] for r in reports] == [1000 + 500 * n for n in range(IMPORTS)]
    assert served["snapshot_id"] == reports[-1]["snapshot_id"] and served["rows"] == 1000 + 500 * (IMPORTS - 1)
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 2 * READS_PER_SECOND
