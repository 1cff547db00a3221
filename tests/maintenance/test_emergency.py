"""Emergency maintenance over a real two-worker server: every analysis endpoint of either worker answers 503
with Retry-After while the flag is on, reads and health keep working, and everything works again after off."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.config import load_settings
from oppscope.ops.emergency import EmergencyFlag, emergency_path, switch_off, switch_on
from tests.examples import OPPORTUNITY
from tests.maintenance.conftest import ops
from tests.web.test_compat import ORIGINAL

runner = CliRunner()


def fresh(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request on its own connection, so the kernel may hand it to either worker."""
    with httpx.Client(timeout=120, headers={"Connection": "close"}) as client:
        return client.request(method, url, **kwargs)


def cli(served: ops.Served, *args: str) -> Any:
    result = runner.invoke(app, ["maintenance", "emergency", *args, "--json"], env=served.env)
    assert result.exit_code == 0, result.output
    return result.stdout


def worker_pids(served: ops.Served, tries: int = 40) -> dict[int, Any]:
    """What each worker's /ops/data says about emergency maintenance, by worker pid."""
    seen: dict[int, Any] = {}
    for _ in range(tries):
        body = fresh("GET", f"{served.url}/ops/data", params={"window": "15m"}).json()
        seen[body["worker"]["pid"]] = body["emergency"]
        if len(seen) == 2:
            break
    return seen


def form_post(url: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=120, headers={"Connection": "close"}) as client:
        page = client.get("/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "the form has no CSRF field"
        return client.post("/analyses", data={**OPPORTUNITY, "csrf_token": token.group(1)}, follow_redirects=False)


@pytest.mark.slow
def test_emergency_pauses_analyses_on_every_worker_and_off_resumes_them(served: ops.Served) -> None:
    created = fresh("POST", f"{served.url}/api/v1/analyses", json=OPPORTUNITY)
    assert created.status_code == 201, created.text
    saved = created.json()["id"]

    cli(served, "on", "--reason", "disk replacement", "--retry-after", "120")
    time.sleep(1.2)  # each worker re-reads the flag's stat at most once a second

    seen = worker_pids(served)
    assert len(seen) == 2, "both workers answered"
    assert all(state and state["reason"] == "disk replacement" for state in seen.values()), seen

    refused = [fresh("POST", f"{served.url}/api/v1/analyses", json=OPPORTUNITY) for _ in range(12)]
    refused.append(fresh("POST", f"{served.url}/api/v1/analyses/{saved}/rerun"))
    refused.append(fresh("POST", f"{served.url}/api/analyze", json=ORIGINAL))
    refused.append(fresh("POST", f"{served.url}/api/analyze/funding", json=ORIGINAL))
    for answer in refused:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "120"
        error = answer.json()["error"]
        assert error["code"] == "maintenance" and error["details"]["reason"] == "disk replacement"
    page = form_post(served.url)
    assert page.status_code == 503 and page.headers["Retry-After"] == "120"
    assert "text/html" in page.headers["content-type"] and "disk replacement" in page.text

    # Reads, saved analyses, pages and health keep answering.
    assert fresh("GET", f"{served.url}/api/v1/analyses/{saved}").status_code == 200
    assert fresh("GET", f"{served.url}/api/v1/analyses").json()["total"] == 1
    assert fresh("GET", f"{served.url}/analyses/{saved}").status_code == 200
    assert fresh("GET", f"{served.url}/api/v1/history/stats").status_code == 200
    ready = fresh("GET", f"{served.url}/health/ready")
    assert ready.status_code == 200
    assert ready.json()["mode"] == "emergency" and ready.json()["emergency"]["retry_after_s"] == 120
    page_ops = fresh("GET", f"{served.url}/ops")
    assert page_ops.status_code == 200 and 'data-emergency="on"' in page_ops.text

    cli(served, "off")
    time.sleep(1.2)
    assert all(state is None for state in worker_pids(served).values())
    for _ in range(4):
        assert fresh("POST", f"{served.url}/api/v1/analyses", json=OPPORTUNITY).status_code == 201
    assert form_post(served.url).status_code == 303
    assert fresh("GET", f"{served.url}/health/ready").json()["mode"] == "normal"
    assert fresh("GET", f"{served.url}/api/v1/analyses").json()["total"] == 6  # nothing saved while paused


def test_the_flag_is_written_whole_and_read_through_a_one_second_cache(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    flag = EmergencyFlag(emergency_path(settings), check_every_s=3600)
    assert flag.state() is None
    switch_on(settings, "index rebuild", 30)
    assert flag.state() is None, "cached until the next check"
    fresh_flag = EmergencyFlag(emergency_path(settings))
    state = fresh_flag.state()
    assert state is not None and state.reason == "index rebuild" and state.retry_after_s == 30
    assert sorted(p.name for p in emergency_path(settings).parent.iterdir()) == ["emergency.json"]  # no temp left
    assert switch_off(settings) is True and switch_off(settings) is False
    assert EmergencyFlag(emergency_path(settings)).state() is None


def test_a_damaged_flag_still_means_on(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    emergency_path(settings).parent.mkdir(parents=True)
    emergency_path(settings).write_text("{not json")
    state = EmergencyFlag(emergency_path(settings)).state()
    assert state is not None and state.retry_after_s > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["on"], "--reason is required"),
        (["on", "--reason", "   "], "must not be empty"),
        (["on", "--reason", "two\nlines"], "one line"),
    ],
)
def test_emergency_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["maintenance", "emergency", *args, "--data-dir", str(tmp_path), "--json"])
    assert result.exit_code == 2, result.output
    assert message in result.stdout
    assert not emergency_path(load_settings(data_dir=tmp_path)).exists()
