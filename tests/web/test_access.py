"""Access control where the profile requires it: bearer tokens with scopes, revocation, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from oppscope.config import Settings
from oppscope.state.db import state_engine
from oppscope.web.app import create_app
from oppscope.wiring import open_services
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, create_token, serving


@dataclass
class Secured:
    url: str
    settings: Settings


@pytest.fixture
def secured(web_settings: WebSettings) -> Iterator[Secured]:
    settings = web_settings(profile="staging", rate_limit_per_minute=600, rate_limit_burst=50)
    assert settings.require_auth
    with serving(create_app(settings)) as url:
        yield Secured(url, settings)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _saved_count(settings: Settings) -> int:
    from sqlalchemy import func, select

    from oppscope.state.tables import analyses

    with state_engine(settings) as engine, engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(analyses)).scalar_one())


API_CALLS = [
    ("POST", "/api/v1/analyses"),
    ("GET", "/api/v1/analyses"),
    ("GET", "/api/v1/analyses/some-id"),
    ("GET", "/api/v1/analyses/some-id/export"),
    ("POST", "/api/v1/analyses/some-id/rerun"),
    ("GET", "/api/v1/history/stats"),
    ("GET", "/api/v1/history/vocabulary"),
]


def test_every_api_call_needs_a_token(secured: Secured) -> None:
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        for method, path in API_CALLS:
            response = http.request(method, path, json=OPPORTUNITY if method == "POST" else None)
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert http.get("/health/live").status_code == 200  # load balancers probe without a token
    assert _saved_count(secured.settings) == 0


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer  x y", "Basic dXNlcjpwYXNz", "Bearer ops_nope_nope", "Bearer not-a-token", "token"]
)
def test_malformed_or_unknown_tokens_are_401(secured: Secured, header: str) -> None:
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        response = http.post("/api/v1/analyses", json=OPPORTUNITY, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"invalid_token", "unauthorized"}
    assert _saved_count(secured.settings) == 0


def test_scopes_decide_what_a_token_may_do(secured: Secured) -> None:
    reader = create_token(secured.settings, "read")
    writer = create_token(secured.settings, "read", "write")
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        refused = http.post("/api/v1/analyses", json=OPPORTUNITY, headers=_bearer(reader))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "insufficient_scope"
        assert refused.json()["error"]["details"] == {"required": "write", "granted": ["read"]}
        assert _saved_count(secured.settings) == 0
        created = http.post("/api/v1/analyses", json=OPPORTUNITY, headers=_bearer(writer))
        assert created.status_code == 201
        analysis_id = created.json()["id"]
        assert http.get(f"/api/v1/analyses/{analysis_id}", headers=_bearer(reader)).status_code == 200
        assert http.post(f"/api/v1/analyses/{analysis_id}/rerun", headers=_bearer(reader)).status_code == 403
    assert _saved_count(secured.settings) == 1


def test_a_revoked_token_is_refused_at_once(secured: Secured) -> None:
    token = create_token(secured.settings, "read", "write")
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        assert http.get("/api/v1/analyses", headers=_bearer(token)).status_code == 200
        with open_services(secured.settings) as services:
            services.tokens.revoke(token.split("_")[1])
        response = http.post("/api/v1/analyses", json=OPPORTUNITY, headers=_bearer(token))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
    assert _saved_count(secured.settings) == 0


def test_a_tampered_secret_is_refused(secured: Secured) -> None:
    token = create_token(secured.settings, "read")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        assert http.get("/api/v1/analyses", headers=_bearer(tampered)).status_code == 401


def test_rate_limits_are_per_token_and_say_when_to_retry(web_settings: WebSettings) -> None:
    settings = web_settings(profile="staging", rate_limit_per_minute=6, rate_limit_burst=3)
    noisy, quiet = create_token(settings, "read"), create_token(settings, "read")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        statuses = [http.get("/api/v1/analyses", headers=_bearer(noisy)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = http.get("/api/v1/analyses", headers=_bearer(noisy))
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        assert http.get("/api/v1/analyses", headers=_bearer(quiet)).status_code == 200


def test_the_development_profile_is_open_but_still_checks_tokens(client: httpx.Client) -> None:
    assert client.get("/api/v1/analyses").status_code == 200
    response = client.get("/api/v1/analyses", headers=_bearer("ops_abc_def"))
    assert response.status_code == 401


def test_health_details_need_the_ops_scope(secured: Secured) -> None:
    reader, operator = create_token(secured.settings, "read"), create_token(secured.settings, "ops")
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        assert http.get("/health/live").json() == {"status": "ok"}
        for headers in ({}, _bearer(reader)):
            assert http.get("/health/ready", headers=headers).json() == {"status": "ready", "mode": "normal"}
            assert http.get("/health", headers=headers).json() == {"status": "healthy"}
        assert http.get("/health/ready", headers=_bearer("ops_nope_nope")).status_code == 401
        detailed = http.get("/health/ready", headers=_bearer(operator)).json()
        assert detailed["checks"]["history"]["rows"] > 0
        assert detailed["checks"]["history"]["latency_ms"] >= 0
        assert http.get("/health", headers=_bearer(operator)).json()["checks"]["disk"] == "ok"


def test_api_docs_are_closed_where_the_setting_says(web_settings: WebSettings) -> None:
    settings = web_settings(profile="production", load_sample_if_empty=True)
    assert not settings.api_docs_public
    reader = create_token(settings, "read")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        for path in ("/docs", "/openapi.json"):
            assert http.get(path).status_code == 401, path
            assert http.get(path, headers=_bearer(reader)).status_code == 200, path
        assert http.get("/openapi.json", headers=_bearer(reader)).json()["info"]["title"] == "oppscope"


def test_api_docs_open_when_public(secured: Secured) -> None:
    assert secured.settings.api_docs_public
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        assert http.get("/openapi.json").status_code == 200
