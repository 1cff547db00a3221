"""Health endpoints: ``/health/live`` (the process answers), ``/health/ready`` (each dependency checked, with
its latency; 503 naming the failing checks) and ``/health`` (the summary, in the original system's shape too).

The checks are the wiring's (``Services.checks``). Where the profile requires tokens, anyone may learn whether
the service is up and ready (load balancers must), but the details (row counts, snapshot ids, latencies, which
dependency failed) need a token with the ``ops`` scope. Both name the ``mode``: ``emergency`` while
``oppscope maintenance emergency on`` pauses analyses; the instance stays ready, as its reads still answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from oppscope import __version__
from oppscope.access.scopes import Scope
from oppscope.ops.health import Readiness, run_checks
from oppscope.web.context import AppContext, Context, presented_principal

router = APIRouter(tags=["health"])


def readiness(context: AppContext) -> Readiness:
    return run_checks(context.services.checks)


def mode(context: AppContext) -> str:
    """``emergency`` while analyses are paused for maintenance (the instance stays ready: reads still work)."""
    return "normal" if context.services.emergency.state() is None else "emergency"


def _may_see_details(request: Request, context: AppContext) -> bool:
    """Open profiles show everything; elsewhere a token with the ``ops`` scope does. A probe without a token
    still gets the bare status; a token that is sent and wrong is a 401, as everywhere."""
    if not context.settings.require_auth:
        return True
    principal = presented_principal(request, context)
    return principal is not None and Scope.ops in principal.scopes


# HEAD too (load balancers and uptime checks often probe with it), kept out of the schema as GET's twin.
@router.get("/health/live")
@router.head("/health/live", include_in_schema=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
@router.head("/health/ready", include_in_schema=False)
def ready(request: Request, context: Context) -> JSONResponse:
    result = readiness(context)
    body: dict[str, Any] = {"status": "ready" if result.ready else "not_ready", "mode": mode(context)}
    if _may_see_details(request, context):
        emergency = context.services.emergency.state()
        body |= {"failing": result.failing, "checks": result.checks}
        if emergency is not None:
            body["emergency"] = emergency.as_dict()
    return JSONResponse(body, status_code=200 if result.ready else 503)


@router.get("/health")
@router.get("/api/health", include_in_schema=False)
def summary(request: Request, context: Context) -> JSONResponse:
    """One look for people and for the original system's clients (``status: healthy``)."""
    result = readiness(context)
    body: dict[str, Any] = {"status": "healthy" if result.ready else "unhealthy"}
    if _may_see_details(request, context):
        body |= {
            "version": __version__,
            "profile": context.settings.profile.value,
            "mode": mode(context),
            "timestamp": datetime.now(UTC).isoformat(),
            "failing": result.failing,
            "checks": {name: check["status"] for name, check in result.checks.items()},
        }
    return JSONResponse(body, status_code=200 if result.ready else 503)
