"""The /api/v1 contract over a real server: create, read, list, export, rerun, history, errors, idempotency."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from oppscope.web.app import create_app
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, serving


def _create(client: httpx.Client, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
    return client.post("/api/v1/analyses", json=body or OPPORTUNITY, headers=headers)


@pytest.fixture(scope="module")
def created(module_server: str) -> dict[str, Any]:
    with httpx.Client(base_url=module_server, timeout=120) as http:
        response = _create(http, {**OPPORTUNITY, "customer_name": "Created Fixture GmbH"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_returns_the_analysis_with_identity_and_links(client: httpx.Client, created: dict[str, Any]) -> None:
    assert uuid.UUID(created["id"])
    assert created["created_at"].endswith("Z")
    assert created["links"]["self"] == f"/api/v1/analyses/{created['id']}"
    assert set(created["links"]["export"]) == {"json", "csv", "md", "html"}
    prediction = created["predictions"]["arr"]
    assert prediction["low"] <= prediction["value"] <= prediction["high"]
    assert created["input"]["customer_name"] == "Created Fixture GmbH"
    assert created["provenance"]["history_rows"] > 0


def test_get_returns_exactly_what_was_saved(client: httpx.Client, created: dict[str, Any]) -> None:
    response = client.get(f"/api/v1/analyses/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_unknown_analysis_is_a_structured_404(client: httpx.Client) -> None:
    for path in ("/api/v1/analyses/nope", "/api/v1/analyses/nope/export", "/api/v1/analyses/nope/rerun"):
        response = client.post(path) if path.endswith("rerun") else client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "analysis_not_found"


def test_list_filters_searches_and_pages(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    names = ("alpha", "bravo", "charlie")
    bodies = [{**OPPORTUNITY, "customer_name": f"Pager {tag}", "opportunity_name": f"Wave {name}"} for name in names]
    ids = [_create(client, body).json()["id"] for body in bodies]
    first = client.get("/api/v1/analyses", params={"customer": f"pager {tag.upper()}", "limit": 2}).json()
    assert first["total"] == 3
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]  # newest first
    assert first["links"]["prev"] is None
    second = client.get(first["links"]["next"]).json()
    assert [item["id"] for item in second["items"]] == [ids[0]]
    assert second["links"]["next"] is None
    found = client.get("/api/v1/analyses", params={"q": f"BRAVO wave {tag}"}).json()
    assert [item["id"] for item in found["items"]] == [ids[1]]
    assert client.get("/api/v1/analyses", params={"q": "%"}).json()["total"] == 0  # LIKE wildcards are escaped
    today = first["items"][0]["created_at"][:10]
    window = {"customer": f"Pager {tag}", "created_from": today, "created_to": today}
    dated = client.get("/api/v1/analyses", params=window)
    assert dated.json()["total"] == 3
    assert client.get("/api/v1/analyses", params={"created_to": "2000-01-01"}).json()["total"] == 0


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"created_from": "yesterday"}, {"q": "x" * 301}]
)
def test_list_rejects_bad_parameters(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/analyses", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_exports(client: httpx.Client, created: dict[str, Any]) -> None:
    base = f"/api/v1/analyses/{created['id']}/export"
    as_json = client.get(base, params={"format": "json"})
    assert as_json.headers["content-disposition"] == f'attachment; filename="oppscope-{created["id"]}.json"'
    assert json.loads(as_json.text)["predictions"] == created["predictions"]
    rows = list(csv.DictReader(io.StringIO(client.get(base, params={"format": "csv"}).text)))
    arr = {r["field"]: float(r["value"]) for r in rows if r["section"] == "prediction" and r["item"] == "arr"}
    assert arr == {k: created["predictions"]["arr"][k] for k in ("value", "low", "high")}
    services = {r["item"] for r in rows if r["section"] == "top_service"}
    assert services == {s["name"] for s in created["top_services"]}
    markdown = client.get(base, params={"format": "md"}).text
    assert markdown.startswith(f"# {created['input']['opportunity_name']}")
    assert f"${created['predictions']['arr']['value']:,.0f}" in markdown
    page = client.get(base, params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert f"${created['predictions']['arr']['value']:,.0f}" in page.text
    assert client.get(base, params={"format": "pdf"}).status_code == 422


def test_rerun_makes_a_new_analysis_of_the_same_input(client: httpx.Client, created: dict[str, Any]) -> None:
    response = client.post(f"/api/v1/analyses/{created['id']}/rerun")
    assert response.status_code == 201, response.text
    rerun = response.json()
    assert rerun["id"] != created["id"]
    assert rerun["rerun_of"] == created["id"]
    assert rerun["input"] == created["input"]
    assert rerun["predictions"] == created["predictions"]  # same history, same engine: same numbers


def test_history_stats_and_vocabulary(client: httpx.Client) -> None:
    stats = client.get("/api/v1/history/stats").json()
    assert stats["rows"] > 0
    vocabulary = client.get("/api/v1/history/vocabulary").json()
    assert set(vocabulary) == {
        "industries",
        "customer_segments",
        "countries",
        "regions",
        "partners",
        "activities",
        "migration_phases",
    }
    assert set(vocabulary["industries"]) == set(stats["industries"])
    counts = [stats["industries"][name] for name in vocabulary["industries"]]
    assert counts == sorted(counts, reverse=True)


def test_retried_post_with_an_idempotency_key_saves_once(client: httpx.Client) -> None:
    key = f"retry-{uuid.uuid4()}"
    body = {**OPPORTUNITY, "customer_name": f"Idem {key}"}
    first = _create(client, body, **{"Idempotency-Key": key})
    again = _create(client, body, **{"Idempotency-Key": key})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert client.get("/api/v1/analyses", params={"customer": body["customer_name"]}).json()["total"] == 1


def test_concurrent_retries_race_to_one_analysis(client: httpx.Client, module_server: str) -> None:
    key = f"race-{uuid.uuid4()}"
    body = {**OPPORTUNITY, "customer_name": f"Race {key}"}
    answers: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=module_server, timeout=120) as http:
            answers.append(_create(http, body, **{"Idempotency-Key": key}))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers).count(201) >= 1
    assert {a.status_code for a in answers} <= {200, 201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert client.get("/api/v1/analyses", params={"customer": body["customer_name"]}).json()["total"] == 1


def test_reusing_a_key_for_another_request_is_a_409(client: httpx.Client) -> None:
    key = f"reuse-{uuid.uuid4()}"
    assert _create(client, OPPORTUNITY, **{"Idempotency-Key": key}).status_code == 201
    other = _create(client, {**OPPORTUNITY, "opportunity_name": "Something else"}, **{"Idempotency-Key": key})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "naïve"])
def test_bad_idempotency_keys_are_refused(client: httpx.Client, key: str) -> None:
    response = client.post(
        "/api/v1/analyses",
        content=json.dumps(OPPORTUNITY).encode(),
        headers=[(b"content-type", b"application/json"), (b"idempotency-key", key.encode())],
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["field"] == "header.Idempotency-Key"


BAD_BODIES: list[tuple[str, Any]] = [
    ("missing fields", {"customer_name": "Acme"}),
    ("wrong types", {**OPPORTUNITY, "customer_name": 42, "close_date": ["2025-01-01"]}),
    ("unknown keys", {**OPPORTUNITY, "colour": "blue"}),
    ("control characters", {**OPPORTUNITY, "customer_name": "Acme\x00\x07"}),
    ("huge numbers", {**OPPORTUNITY, "close_date": 10**400}),
    ("date out of range", {**OPPORTUNITY, "close_date": "9999-12-31"}),
    ("too long", {**OPPORTUNITY, "customer_name": "A" * 301}),
    ("not an object", [OPPORTUNITY]),
    ("null", None),
]


@pytest.mark.parametrize(("label", "body"), BAD_BODIES, ids=[label for label, _ in BAD_BODIES])
def test_bad_bodies_are_structured_422s_and_save_nothing(client: httpx.Client, label: str, body: Any) -> None:
    before = client.get("/api/v1/analyses", params={"limit": 1}).json()["total"]
    response = client.post(
        "/api/v1/analyses", content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, (label, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["errors"]
    assert "Traceback" not in response.text
    assert client.get("/api/v1/analyses", params={"limit": 1}).json()["total"] == before


def test_sql_looking_text_is_only_text(client: httpx.Client) -> None:
    name = "Robert'); DROP TABLE analyses;--"
    response = _create(client, {**OPPORTUNITY, "customer_name": name, "description": "' OR 1=1 --"})
    assert response.status_code == 201
    assert client.get("/api/v1/analyses", params={"customer": name}).json()["items"][0]["customer_name"] == name


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"a=b", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_structured_4xx(client: httpx.Client, content: bytes, content_type: str) -> None:
    response = client.post("/api/v1/analyses", content=content, headers={"content-type": content_type})
    assert response.status_code in {400, 422}
    assert response.json()["error"]["code"] in {"invalid_json", "invalid_input"}


def test_oversized_bodies_are_refused_with_413(client: httpx.Client) -> None:
    big = {**OPPORTUNITY, "description": "x" * 70_000}
    declared = client.post("/api/v1/analyses", json=big)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Any:  # no Content-Length: the limit is enforced on the bytes received
        data = json.dumps(big).encode()
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    streamed = client.post("/api/v1/analyses", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"


def test_security_headers_on_api_answers(client: httpx.Client) -> None:
    headers = client.get("/health/live").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_openapi_documents_the_api(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/analyses",
        "/api/v1/analyses/{analysis_id}",
        "/api/v1/analyses/{analysis_id}/export",
        "/api/v1/analyses/{analysis_id}/rerun",
        "/api/v1/history/stats",
        "/api/v1/history/vocabulary",
    ):
        assert path in paths, path
    assert "413" in paths["/api/v1/analyses"]["post"]["responses"]


def test_rerun_follows_a_changed_history(web_settings: WebSettings) -> None:
    """A rerun analyses against the history as it is now, not as it was when the server started."""
    from oppscope.engines.loading import load_sample
    from oppscope.history.factory import open_history_store

    settings = web_settings()
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=120) as http:
        first = _create(http).json()
        with open_history_store(settings) as store:
            load_sample(store, settings, settings.sample_rows, seed=7, replace=True)
            snapshot = store.snapshot_id()
        assert snapshot != first["provenance"]["history_snapshot_id"]
        rerun = http.post(f"/api/v1/analyses/{first['id']}/rerun").json()
    assert rerun["provenance"]["history_snapshot_id"] == snapshot
    assert rerun["rerun_of"] == first["id"]


def test_new_analyses_follow_a_changed_history_without_waiting_for_it(web_settings: WebSettings) -> None:
    """The engine for a new history is loaded in the background; until then the previous one answers."""
    from oppscope.engines.loading import load_sample
    from oppscope.history.factory import open_history_store

    settings = web_settings(history_check_seconds=0)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=120) as http:
        before = _create(http).json()["provenance"]["history_snapshot_id"]
        with open_history_store(settings) as store:
            load_sample(store, settings, settings.sample_rows, seed=8, replace=True)
            snapshot = store.snapshot_id()
        seen = []
        deadline = time.monotonic() + 120
        while snapshot not in seen and time.monotonic() < deadline:
            response = _create(http)
            assert response.status_code == 201  # never refused while the new engine loads
            seen.append(response.json()["provenance"]["history_snapshot_id"])
            time.sleep(0.2)
    assert seen[-1] == snapshot
    assert set(seen) <= {before, snapshot}
