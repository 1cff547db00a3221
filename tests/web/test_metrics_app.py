"""Telemetry inside one app on a real uvicorn server: the cache saves every answer as its own analysis, route
labels for answers given before routing and for static files, instrumentation off, and /metrics behind the ops
scope where tokens are required."""

from __future__ import annotations

import httpx

from oppscope.ops.logging import iter_log_records
from oppscope.ops.timeseries import timeseries_path
from oppscope.web.app import create_app
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, create_token, serving


def _counter(scrape: str, sample: str) -> float:
    for line in scrape.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_cached_answer_is_still_saved_as_a_new_analysis(web_settings: WebSettings) -> None:
    settings = web_settings(analysis_cache_enabled=True, log_level="info")
    hit = 'oppscope_cache_requests_total{result="hit"}'
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        before = _counter(client.get("/metrics").text, hit)
        first = client.post("/api/v1/analyses", json={**OPPORTUNITY, "id": "crm-1"})
        second = client.post("/api/v1/analyses", json={**OPPORTUNITY, "id": "crm-2"})
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] != second.json()["id"]
        for answer in (first, second):
            saved = client.get(f"/api/v1/analyses/{answer.json()['id']}").json()
            assert saved["input"]["id"] == answer.json()["input"]["id"]
        assert second.json()["predictions"] == first.json()["predictions"]
        assert _counter(client.get("/metrics").text, hit) == before + 1
    analyses = [r for r in iter_log_records(settings) if r["event"] == "analysis"]
    assert [r["cache"] for r in analyses] == ["miss", "hit"]
    assert set(analyses[0]["stages_ms"]) == {"resolve", "retrieve", "estimate", "narrative", "store"}
    assert set(analyses[1]["stages_ms"]) == {"store"}


def test_answers_before_routing_and_static_files_are_labelled_by_their_route(web_settings: WebSettings) -> None:
    settings = web_settings(log_level="info")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        too_big = client.post(
            "/api/v1/analyses",
            content=b"{" + b" " * (settings.max_body_bytes + 10) + b"}",
            headers={"content-type": "application/json"},
        )
        assert too_big.status_code == 413
        static = client.get("/static/app.css")
        scrape = client.get("/metrics").text
    assert 'oppscope_http_requests_total{method="POST",route="/api/v1/analyses",status="413"}' in scrape
    assert f'route="/static/{{path}}",status="{static.status_code}"' in scrape
    (refused,) = [r for r in iter_log_records(settings) if r["event"] == "request" and r["status"] == 413]
    assert refused["route"] == "/api/v1/analyses" and refused["error_code"] == "payload_too_large"


def test_instrumentation_off_keeps_only_the_request_log(web_settings: WebSettings) -> None:
    settings = web_settings(metrics_enabled=False, log_level="info")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/api/v1/analyses", json=OPPORTUNITY).status_code == 201
        assert client.get("/metrics").status_code == 404
    assert not timeseries_path(settings).exists()
    events = [r["event"] for r in iter_log_records(settings)]
    assert "request" in events and "analysis" in events


def test_metrics_need_the_ops_scope_where_tokens_are_required(web_settings: WebSettings) -> None:
    settings = web_settings(profile="staging")
    reader, operator = create_token(settings, "read", name="reader"), create_token(settings, "ops", name="ops")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {operator}"})
        assert scraped.status_code == 200 and "oppscope_http_requests_total" in scraped.text
    text = "".join(p.read_text() for p in settings.log_path.glob("oppscope.log.*"))
    assert reader not in text and operator not in text
