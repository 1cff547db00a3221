"""The ``oppscope check`` suites (design section 5, the seed's validate-* scripts): connectivity, endpoints,
permissions, infrastructure, e2e and performance.

A suite is a list of named checks, each ``ok``, ``warn`` or ``fail`` with what it saw; the suite fails when one
check fails. The local suites read the data directory; ``endpoints``, ``e2e`` and ``performance`` talk to a
running service over HTTP, only at the URL they are given.
"""

from __future__ import annotations

import socket
import stat
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import psutil

from oppscope.config import Profile, Settings
from oppscope.ops import health

# The backends the service reports on (``oppscope_backend_up{backend}``): the wiring's readiness checks, by name
# (a test holds the two together), for exports made without opening any backend.
BACKENDS = ("history", "analysis_engine", "state_database", "disk")

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "latency_ms": self.latency_ms,
            **({"data": self.data} if self.data else {}),
        }


@dataclass(frozen=True)
class Suite:
    name: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.name,
            "status": "ok" if self.ok else "fail",
            "checks": [check.as_dict() for check in self.checks],
        }


Probe = Callable[[], tuple[Status, str, dict[str, Any]]]


def timed(name: str, probe: Probe) -> Check:
    """Run one probe; a probe that raises has failed, with the error as its detail."""
    started = time.perf_counter()
    try:
        status, detail, data = probe()
    except Exception as exc:  # a check reports every failure, it never raises
        status, detail, data = "fail", f"{type(exc).__name__}: {exc}"[:500], {}
    return Check(name, status, detail, data, round((time.perf_counter() - started) * 1000, 2))


# --- connectivity -------------------------------------------------------------------------------------------


def backend_checks(probes: Sequence[health.Check]) -> list[Check]:
    """The wiring's readiness checks (the ones ``/health/ready`` runs) as check results: a usable state other
    than ``ok`` (a busy history) is a warning."""
    readiness = health.run_checks(probes)
    found = []
    for probe in probes:
        result = dict(readiness.checks[probe.name])
        state, latency = result.pop("status"), result.pop("latency_ms", None)
        status: Status = "ok" if state == "ok" else "warn" if state in probe.usable else "fail"
        error = result.get("error")
        detail = error["message"] if isinstance(error, dict) else ", ".join(f"{k} {v}" for k, v in result.items())
        found.append(Check(probe.name, status, detail or state, result, latency))
    return found


def _state(settings: Settings) -> tuple[Status, str, dict[str, Any]]:
    from oppscope.state.db import state_engine, state_url
    from oppscope.state.migrate import compatibility

    if state_url(settings).startswith("sqlite") and not settings.state_path.exists():
        return "fail", f"no state database at {settings.state_path}: run `oppscope db upgrade`", {}
    with state_engine(settings) as engine:
        found = compatibility(engine)
    data = {"revision": found.current, "head": found.head}
    if not found.ok:
        return "fail", f"schema at {found.current}, the code needs {found.head}: {found.reason}", data
    return "ok", found.reason, data


PublishedModel = Callable[[], str | None]
"""The id of the model the model cache publishes to the workers, if any (the cache is a higher layer's backend)."""


def _model_cache(published_model: PublishedModel) -> tuple[Status, str, dict[str, Any]]:
    model_id = published_model()
    if model_id is None:
        return "warn", "no fitted engine published: the next start fits one", {}
    return "ok", f"engine {model_id} published", {"model_id": model_id}


def _service_ready(client: httpx.Client) -> tuple[Status, str, dict[str, Any]]:
    response = client.get("/health/ready")
    body = response.json()
    failing = body.get("failing") or [n for n, c in body.get("checks", {}).items() if c.get("status") != "ok"]
    if response.status_code != 200:
        return "fail", f"not ready (HTTP {response.status_code}): {', '.join(failing) or body.get('status')}", body
    return "ok", "ready", body


def connectivity(
    settings: Settings,
    probes: Sequence[health.Check],
    published_model: PublishedModel,
    client: httpx.Client | None = None,
) -> Suite:
    """Each backend reachable from here (the wiring's readiness ``probes``), the model cache, and, given a service,
    the service's own view of them."""
    checks = [*backend_checks(probes), timed("model_cache", lambda: _model_cache(published_model))]
    if client is not None:
        checks.append(timed("service", lambda: _service_ready(client)))
    return Suite("connectivity", checks)


# --- endpoints ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    expect: frozenset[int]
    body: dict[str, Any] | None = None
    protected: bool = False  # may answer 401/403 when the caller has no (suitable) token
    check: Callable[[httpx.Response], str | None] | None = None  # a problem with the answer, or None


def _json_key(key: str) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        return None if key in response.json() else f"the answer has no {key!r}"

    return check


def _error_code(code: str) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        got = response.json().get("error", {}).get("code")
        return None if got == code else f"error code {got!r}, expected {code!r}"

    return check


def _contains(text: str) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        return None if text in response.text else f"the answer does not contain {text!r}"

    return check


PAGE = frozenset({200, 303})  # a page, or the way to /login where pages need a session
ENDPOINTS = (
    Endpoint("GET", "/health/live", frozenset({200}), check=_json_key("status")),
    Endpoint("GET", "/health/ready", frozenset({200}), check=_json_key("status")),  # details need the ops scope
    Endpoint("GET", "/health", frozenset({200}), check=_json_key("status")),
    Endpoint("GET", "/metrics", frozenset({200}), protected=True, check=_contains("oppscope_http_requests_total")),
    Endpoint("GET", "/openapi.json", frozenset({200, 404}), protected=True),
    Endpoint("GET", "/docs", frozenset({200, 404}), protected=True),
    Endpoint("GET", "/api/v1/history/stats", frozenset({200}), protected=True),
    Endpoint("GET", "/api/v1/history/vocabulary", frozenset({200}), protected=True),
    Endpoint("GET", "/api/v1/analyses?limit=1", frozenset({200}), protected=True, check=_json_key("items")),
    Endpoint(
        "GET",
        "/api/v1/analyses/no-such-analysis",
        frozenset({404}),
        protected=True,
        check=_error_code("analysis_not_found"),
    ),
    Endpoint("POST", "/api/v1/analyses", frozenset({422}), body={}, protected=True, check=_error_code("invalid_input")),
    Endpoint("GET", "/", PAGE),
    Endpoint("GET", "/analyses", PAGE),
    Endpoint("GET", "/ops", PAGE),
    Endpoint("GET", "/login", frozenset({200})),
    Endpoint("GET", "/static/css/app.css", frozenset({200})),
)


def _endpoint(client: httpx.Client, endpoint: Endpoint, has_token: bool) -> tuple[Status, str, dict[str, Any]]:
    response = client.request(endpoint.method, endpoint.path, json=endpoint.body)
    status = response.status_code
    data = {"status": status}
    if status in endpoint.expect:
        problem = endpoint.check(response) if endpoint.check else None
        return ("fail", problem, data) if problem else ("ok", f"HTTP {status}", data)
    if endpoint.protected and not has_token and status in (401, 403):
        return "warn", f"HTTP {status}: needs a token (pass --token or OPPSCOPE_TOKEN)", data
    return "fail", f"HTTP {status}, expected {' or '.join(map(str, sorted(endpoint.expect)))}", data


def endpoints(client: httpx.Client, has_token: bool) -> Suite:
    """Every public route answers as documented (nothing is created: the POST is an invalid body)."""
    return Suite(
        "endpoints",
        [timed(f"{e.method} {e.path}", partial(_endpoint, client, e, has_token)) for e in ENDPOINTS],
    )


# --- permissions --------------------------------------------------------------------------------------------


def _writable(directory: Path) -> tuple[Status, str, dict[str, Any]]:
    if not directory.exists():
        return "warn", f"{directory} does not exist yet (created on first use)", {}
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".oppscope-check-"):
        pass
    return "ok", f"{directory} is writable", {}


def _private(settings: Settings, files: Iterable[Path]) -> tuple[Status, str, dict[str, Any]]:
    """Saved analyses (customer data) and token digests must not be readable by every local user."""
    exposed = [str(f) for f in files if f.exists() and f.stat().st_mode & (stat.S_IROTH | stat.S_IWOTH)]
    if not exposed:
        return "ok", "not readable by other users", {}
    severity: Status = "warn" if settings.profile is Profile.development else "fail"
    return severity, f"readable by every user: {', '.join(exposed)} (chmod o-rwx)", {"files": exposed}


# The active tokens' scope counts ({"read": 2, "write": 1, "ops": 0}), read by the caller from the token store:
# ops sits beside access in the layers, so it is handed the figures rather than reading tokens itself.
TokenCounts = Callable[[], tuple[int, dict[str, int]]]


def _tokens(settings: Settings, counts: TokenCounts) -> tuple[Status, str, dict[str, Any]]:
    active, by_scope = counts()
    data = {"active": active, "by_scope": by_scope}
    if not settings.require_auth:
        return "ok", f"authentication is off in this profile; {active} active token(s)", data
    if not active:
        return "fail", "authentication is required but no token is active: `oppscope tokens create`", data
    if by_scope.get("ops", 0) == 0:
        return "warn", "no active token has the ops scope: nobody can read /ops or health details", data
    return "ok", f"{active} active token(s): " + ", ".join(f"{k} {v}" for k, v in by_scope.items()), data


def permissions(settings: Settings, token_counts: TokenCounts) -> Suite:
    state_files = [
        settings.state_path,
        *(settings.state_path.with_name(settings.state_path.name + s) for s in ("-wal", "-shm")),
    ]
    return Suite(
        "permissions",
        [
            timed("data_dir", lambda: _writable(settings.data_dir)),
            timed("log_dir", lambda: _writable(settings.log_path)),
            timed("ops_dir", lambda: _writable(settings.ops_dir)),
            timed("backup_dir", lambda: _writable(settings.data_dir / "backups")),
            timed("state_database_private", lambda: _private(settings, state_files)),
            timed("tokens", lambda: _tokens(settings, token_counts)),
        ],
    )


# --- infrastructure -----------------------------------------------------------------------------------------


def _disk(settings: Settings) -> tuple[Status, str, dict[str, Any]]:
    usage = psutil.disk_usage(str(settings.data_dir if settings.data_dir.exists() else Path.cwd()))
    share = usage.percent / 100
    data = {"used_ratio": share, "free_bytes": usage.free}
    status: Status = "fail" if share > 0.95 else "warn" if share > settings.alert_resource_warning else "ok"
    return status, f"{usage.percent:.0f}% used, {usage.free / 2**30:.1f} GiB free", data


def _data_files(settings: Settings) -> tuple[Status, str, dict[str, Any]]:
    files = {"history": settings.history_path, "state_database": settings.state_path}
    sizes = {name: path.stat().st_size for name, path in files.items() if path.exists()}
    missing = sorted(set(files) - set(sizes))
    if missing:
        return "fail", "missing: " + ", ".join(str(files[m]) for m in missing), {"bytes": sizes}
    return "ok", ", ".join(f"{n} {s / 2**20:.1f} MiB" for n, s in sizes.items()), {"bytes": sizes}


def _port(settings: Settings) -> tuple[Status, str, dict[str, Any]]:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "localhost") else settings.host
    data = {"host": host, "port": settings.port}
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.settimeout(2)
        if sock.connect_ex((host, settings.port)) != 0:
            return "ok", f"{host}:{settings.port} is free for `oppscope serve`", data
    try:
        live = httpx.get(f"http://{_netloc(host, settings.port)}/health/live", timeout=3)
        ours = live.status_code == 200 and live.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        ours = False
    if ours:
        return "ok", f"{host}:{settings.port} is served by oppscope", data | {"in_use": True}
    return "fail", f"{host}:{settings.port} is taken by another program", data | {"in_use": True}


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def infrastructure(settings: Settings, published_model: PublishedModel) -> Suite:
    return Suite(
        "infrastructure",
        [
            timed("schema_revision", lambda: _state(settings)),
            timed("disk", lambda: _disk(settings)),
            timed("data_files", lambda: _data_files(settings)),
            timed("model_cache", lambda: _model_cache(published_model)),
            timed("port", lambda: _port(settings)),
        ],
    )


# --- e2e and performance ------------------------------------------------------------------------------------

CHECK_OPPORTUNITY: dict[str, Any] = {
    "customer_name": "oppscope check",
    "region": "Germany",
    "close_date": "2026-03-31",
    "opportunity_name": "Operations check",
    "description": "Migrate 40 servers and 3 databases to AWS (an analysis made by `oppscope check`).",
    "industry": "Manufacturing",
}


def _e2e(client: httpx.Client) -> tuple[Status, str, dict[str, Any]]:
    created = client.post("/api/v1/analyses", json=CHECK_OPPORTUNITY, headers={"Idempotency-Key": str(uuid.uuid4())})
    if created.status_code != 201:
        return "fail", f"POST /api/v1/analyses answered HTTP {created.status_code}: {created.text[:200]}", {}
    saved = created.json()
    fetched = client.get(f"/api/v1/analyses/{saved['id']}")
    if fetched.status_code != 200:
        return "fail", f"GET of the new analysis answered HTTP {fetched.status_code}", {"id": saved["id"]}
    again = fetched.json()
    if again["predictions"] != saved["predictions"] or again["input"] != saved["input"]:
        return "fail", "the analysis read back differs from the one created", {"id": saved["id"]}
    arr = saved["predictions"]["arr"]["value"]
    return "ok", f"analysis {saved['id']} created and read back (ARR {arr:,.0f})", {"id": saved["id"]}


def e2e(client: httpx.Client) -> Suite:
    """A real analysis through the running service: POST it, then GET it back unchanged."""
    return Suite("e2e", [timed("analysis_round_trip", lambda: _e2e(client))])


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    duration_s: float
    p50_s: float | None
    p95_s: float | None
    requests_per_minute: float
    error_rate: float | None
    statuses: dict[str, int]


def run_load(
    client_factory: Callable[[], httpx.Client], duration_s: float, concurrency: int, max_requests: int
) -> LoadResult:
    """Each of ``concurrency`` workers posts analyses back to back until the time or the request budget is spent."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s
    budget = iter(range(max_requests))

    def worker() -> None:
        with client_factory() as client:
            while time.monotonic() < deadline:
                with lock:
                    if next(budget, None) is None:
                        return
                started = time.perf_counter()
                try:
                    code = str(client.post("/api/v1/analyses", json=CHECK_OPPORTUNITY).status_code)
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                with lock:
                    latencies.append(time.perf_counter() - started)
                    statuses[code] = statuses.get(code, 0) + 1

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    elapsed = time.monotonic() - started
    total = len(latencies)
    errors = sum(n for code, n in statuses.items() if not code.startswith("2"))
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if total >= 2 else latencies * 99
    return LoadResult(
        requests=total,
        errors=errors,
        duration_s=round(elapsed, 3),
        p50_s=round(cuts[49], 4) if cuts else None,
        p95_s=round(cuts[94], 4) if cuts else None,
        requests_per_minute=round(total / elapsed * 60, 1) if elapsed else 0.0,
        error_rate=errors / total if total else None,
        statuses=statuses,
    )


def performance(
    settings: Settings,
    client_factory: Callable[[], httpx.Client],
    duration_s: float = 30.0,
    concurrency: int = 4,
    max_requests: int = 10_000,
) -> Suite:
    """A short bounded load compared with the seed's baselines: p95, throughput and error rate."""
    load = run_load(client_factory, duration_s, concurrency, max_requests)
    data = load.__dict__
    p95_ok = load.p95_s is not None and load.p95_s < settings.baseline_p95_s
    rate_ok = load.requests_per_minute >= settings.baseline_requests_per_minute
    errors_ok = load.error_rate is not None and load.error_rate < settings.baseline_error_rate
    error_text = "n/a" if load.error_rate is None else f"{load.error_rate:.2%}"
    return Suite(
        "performance",
        [
            Check(
                "p95",
                "ok" if p95_ok else "fail",
                f"p95 {load.p95_s} s (baseline < {settings.baseline_p95_s:g} s)",
                data,
            ),
            Check(
                "throughput",
                "ok" if rate_ok else "fail",
                f"{load.requests_per_minute:g} requests/min with {concurrency} clients "
                f"(baseline {settings.baseline_requests_per_minute:g})",
            ),
            Check(
                "error_rate",
                "ok" if errors_ok else "fail",
                f"error rate {error_text} of {load.requests} (baseline < {settings.baseline_error_rate:.0%})",
            ),
        ],
    )


def service_client(url: str, token: str | None, timeout_s: float = 60.0) -> httpx.Client:
    """An HTTP client for the service at ``url``; only http(s) URLs, never following redirects elsewhere."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s, follow_redirects=False)


def default_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "localhost") else settings.host
    return f"http://{_netloc(host, settings.port)}"
