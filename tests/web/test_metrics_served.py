"""The real ``oppscope serve --workers 2``: after a known number of good and bad requests, ``/metrics`` counts
exactly that whichever worker answered each, promtool accepts the scrape, the JSON log file holds every request
with its error code, the time series agrees, and no secret or customer text reaches the log."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from oppscope.config import Settings
from oppscope.ops.logging import iter_log_records
from oppscope.ops.timeseries import open_timeseries
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, free_port, wait_until_answering

GOOD = 12  # 201
INVALID = 7  # 422: a required field missing
MISSING = 5  # 404 on /api/v1/analyses/{analysis_id}
UNMATCHED = 3  # 404 on no route at all
SECRET_TOKEN = "ops_0123456789ab_" + "Zq9" * 15
CUSTOMER = "Quixotic Pelican Holdings"
DESCRIPTION = "Migrate the xylophone-cluster of 240 servers"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `make test` installs Debian's prometheus package")
    return found


@pytest.fixture
def served(web_settings: WebSettings, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = web_settings()
    stdout = (tmp_path / "serve.out").open("wb")
    port = free_port()
    command = [str(Path(sys.executable).parent / "oppscope"), "serve", "--workers", "2", "--port", str(port)]
    env = {**os.environ, "OPPSCOPE_SAMPLE_ROWS": str(settings.sample_rows), "OPPSCOPE_LOG_LEVEL": "info"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [*command, "--data-dir", str(settings.data_dir)],
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(server, f"{url}/health/live")
        deadline = time.monotonic() + 60
        while len(_started_workers(settings)) < 2:  # one worker may answer before the other has started
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.2)
        yield url, settings
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        stdout.close()


def _started_workers(settings: Settings) -> set[int]:
    return {int(r["pid"]) for r in iter_log_records(settings) if r["event"] == "Application startup complete."}


def _samples(scrape: str, name: str) -> dict[str, float]:
    out = {}
    for line in scrape.splitlines():
        if line.startswith(name):
            labels, _, value = line.rpartition(" ")
            out[labels] = float(value)
    return out


def test_two_workers_count_exactly_the_requests_sent(served: tuple[str, Settings]) -> None:
    url, settings = served
    good = {**OPPORTUNITY, "customer_name": CUSTOMER, "description": DESCRIPTION}
    secret_headers = {"Cookie": f"oppscope_session={SECRET_TOKEN}"}

    def one(i: int) -> int:
        # A fresh connection each time, from several threads, so both workers take their share.
        with httpx.Client(base_url=url, timeout=60) as client:
            if i < GOOD:
                return client.post(
                    "/api/v1/analyses", json={**good, "id": f"crm-{i}"}, headers=secret_headers
                ).status_code
            if i < GOOD + INVALID:
                return client.post("/api/v1/analyses", json={"customer_name": CUSTOMER}).status_code
            if i < GOOD + INVALID + MISSING:
                return client.get(f"/api/v1/analyses/no-such-{i}").status_code
            return client.get(f"/no/such/{CUSTOMER}").status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(GOOD + INVALID + MISSING + UNMATCHED)))
    assert statuses.count(201) == GOOD and statuses.count(422) == INVALID and statuses.count(404) == MISSING + UNMATCHED
    # A wrong bearer token is refused (401) and must not be logged either.
    assert httpx.get(f"{url}/api/v1/analyses", headers={"Authorization": f"Bearer {SECRET_TOKEN}"}).status_code == 401

    scrape = httpx.get(f"{url}/metrics", timeout=30).text
    requests = _samples(scrape, "oppscope_http_requests_total{")
    assert {k: v for k, v in requests.items() if '"/health/live"' not in k} == {
        'oppscope_http_requests_total{method="POST",route="/api/v1/analyses",status="201"}': GOOD,
        'oppscope_http_requests_total{method="POST",route="/api/v1/analyses",status="422"}': INVALID,
        'oppscope_http_requests_total{method="GET",route="/api/v1/analyses/{analysis_id}",status="404"}': MISSING,
        'oppscope_http_requests_total{method="GET",route="unmatched",status="404"}': UNMATCHED,
        'oppscope_http_requests_total{method="GET",route="/api/v1/analyses",status="401"}': 1,
    }
    assert _samples(scrape, "oppscope_workers ") == {"oppscope_workers": 2}
    # Every earlier request was answered; only the scrape itself is in flight, whichever worker serves it.
    assert _samples(scrape, "oppscope_http_requests_in_flight ") == {"oppscope_http_requests_in_flight": 1}
    edges = set(re.findall(r'oppscope_http_request_duration_seconds_bucket\{.*le="([^"]+)"', scrape))
    assert {"0.05", "0.1", "0.5", "1.0", "5.0", "10.0", "15.0", "30.0", "+Inf"} <= edges
    posted = _samples(scrape, "oppscope_http_request_duration_seconds_count{")
    assert posted['oppscope_http_request_duration_seconds_count{method="POST",route="/api/v1/analyses"}'] == (
        GOOD + INVALID
    )
    stages = _samples(scrape, "oppscope_analysis_stage_seconds_count{")
    assert {k.split('"')[1]: v for k, v in stages.items()} == {
        stage: GOOD for stage in ("resolve", "retrieve", "estimate", "narrative", "store")
    }
    assert _samples(scrape, "oppscope_process_resident_memory_bytes ")["oppscope_process_resident_memory_bytes"] > 0
    for backend in ("history", "analysis_engine", "state_database"):
        assert _samples(scrape, f'oppscope_backend_up{{backend="{backend}"}}') == {
            f'oppscope_backend_up{{backend="{backend}"}}': 1.0
        }
    checked = subprocess.run([_promtool(), "check", "metrics"], input=scrape, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The log file: every request once, error codes from the structured bodies, both workers at work.
    time.sleep(0.5)
    records = [r for r in iter_log_records(settings) if r.get("event") == "request"]
    api = [r for r in records if str(r["route"]).startswith(("/api", "unmatched"))]
    assert len(api) == GOOD + INVALID + MISSING + UNMATCHED + 1
    codes = [r.get("error_code") for r in api]
    assert codes.count("invalid_input") == INVALID
    assert codes.count("analysis_not_found") == MISSING
    assert codes.count("not_found") == UNMATCHED
    assert codes.count(None) == GOOD
    assert all(isinstance(r["duration_ms"], float) and len(r["request_id"]) == 32 for r in api)
    assert len({r["pid"] for r in api}) == 2
    analyses = [r for r in iter_log_records(settings) if r.get("event") == "analysis"]
    assert len(analyses) == GOOD and all(
        set(r["stages_ms"]) == {"resolve", "retrieve", "estimate", "narrative", "store"} for r in analyses
    )
    assert {r["cache"] for r in analyses} == {"off"}  # development profile
    text = "".join(path.read_text() for path in settings.log_path.glob("oppscope.log.*"))
    for secret in (SECRET_TOKEN, "Zq9Zq9", CUSTOMER, "Quixotic", "xylophone"):
        assert secret not in text

    # The time series saw the same requests (the workers flush every few seconds).
    deadline = time.monotonic() + 30
    while True:
        window = open_timeseries(settings).window(15)
        api_requests = sum(
            s.requests for route, s in window.routes.items() if "/health" not in route and "/metrics" not in route
        )
        if api_requests == GOOD + INVALID + MISSING + UNMATCHED + 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert api_requests == GOOD + INVALID + MISSING + UNMATCHED + 1
    assert window.errors_4xx >= INVALID + MISSING + UNMATCHED + 1
    assert window.errors_5xx == 0
    assert window.stage_p95_s.keys() == {"resolve", "retrieve", "estimate", "narrative", "store"}


def test_every_worker_logs_json_to_stdout_uvicorn_included(served: tuple[str, Settings], tmp_path: Path) -> None:
    url, _ = served
    assert httpx.post(f"{url}/api/v1/analyses", json=OPPORTUNITY, timeout=60).status_code == 201
    time.sleep(0.5)
    lines = (tmp_path / "serve.out").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    started = [r for r in records if r["logger"] == "uvicorn.error" and "Started server process" in r["event"]]
    assert len({r["pid"] for r in started}) == 2  # each worker's own start, through our formatter
    assert any(r["event"] == "request" and r["route"] == "/api/v1/analyses" for r in records)
    assert not [line for line in lines if "uvicorn.access" in line or '" 201' in line]  # no plain access log


def test_a_request_id_is_kept_when_well_formed_and_made_otherwise(served: tuple[str, Settings]) -> None:
    url, _ = served
    kept = httpx.get(f"{url}/health/live", headers={"X-Request-ID": "lb-7f3a.42"})
    assert kept.headers["x-request-id"] == "lb-7f3a.42"
    made = httpx.get(f"{url}/health/live", headers={"X-Request-ID": "bad id\twith <markup>"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", httpx.get(f"{url}/health/live").headers["x-request-id"])


def test_a_killed_worker_is_marked_dead_and_its_counts_kept(served: tuple[str, Settings]) -> None:
    url, settings = served
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: httpx.get(f"{url}/api/v1/analyses/none", timeout=30).status_code, range(10)))
    records = [r for r in iter_log_records(settings) if r.get("event") == "request"]
    victim = int(records[-1]["pid"])
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:  # uvicorn's supervisor starts a new worker in the dead one's place
        ready = _started_workers(settings)
        if len(ready) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(ready) == 3 and victim in ready, ready
    scrape = httpx.get(f"{url}/metrics", timeout=30).text
    assert _samples(scrape, "oppscope_workers ") == {"oppscope_workers": 2}  # the dead one no longer counts
    missing = 'oppscope_http_requests_total{method="GET",route="/api/v1/analyses/{analysis_id}",status="404"}'
    assert _samples(scrape, missing) == {missing: 10}  # the dead worker's counts stay in the totals
