"""Health endpoints: ``/health/live`` (the process answers), ``/health/ready`` (each dependency checked, with
its latency; 503 when any fails) and ``/health`` (the summary, in the original system's shape too)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from oppscope import __version__
from oppscope.history.factory import open_history_reader
from oppscope.history.interfaces import HISTORY_BUSY
from oppscope.history.store import HistoryError
from oppscope.web.context import AppContext, Context

router = APIRouter(tags=["health"])


def _error(exc: HistoryError) -> dict[str, str]:
    return {"code": exc.code, "message": exc.message}


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result: dict[str, Any] = check()
    except HistoryError as exc:
        result = {"status": "error", "error": _error(exc)}
    except Exception as exc:  # a health check reports any failure; it must never raise itself
        result = {"status": "error", "error": {"code": type(exc).__name__, "message": str(exc)[:300]}}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _history(context: AppContext) -> dict[str, Any]:
    try:
        with open_history_reader(context.settings) as reader:
            rows, snapshot = reader.row_count(), reader.snapshot_id()
    except HistoryError as exc:
        if exc.code != HISTORY_BUSY:
            raise
        # Another process holds the history for a moment; analyses still answer from the engine in memory.
        return {"status": "busy", "error": _error(exc)}
    return {"status": "ok" if rows > 0 else "empty", "rows": rows, "snapshot_id": snapshot}


def _engine(context: AppContext) -> dict[str, Any]:
    return {"status": "ok", "snapshot_id": context.engines.loaded().snapshot_id}


def _state(context: AppContext) -> dict[str, Any]:
    context.service.store.ping()
    return {"status": "ok"}


def readiness(context: AppContext) -> tuple[bool, dict[str, Any]]:
    checks = {
        "history": _timed(lambda: _history(context)),
        "analysis_engine": _timed(lambda: _engine(context)),
        "state_database": _timed(lambda: _state(context)),
    }
    usable = {"history": {"ok", "busy"}}
    return all(c["status"] in usable.get(name, {"ok"}) for name, c in checks.items()), checks


# HEAD too (load balancers and uptime checks often probe with it), kept out of the schema as GET's twin.
@router.get("/health/live")
@router.head("/health/live", include_in_schema=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
@router.head("/health/ready", include_in_schema=False)
def ready(context: Context) -> JSONResponse:
    ok, checks = readiness(context)
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/health")
@router.get("/api/health", include_in_schema=False)
def summary(context: Context) -> JSONResponse:
    """One look for people and for the original system's clients (``status: healthy``)."""
    ok, checks = readiness(context)
    return JSONResponse(
        {
            "status": "healthy" if ok else "unhealthy",
            "version": __version__,
            "profile": context.settings.profile.value,
            "timestamp": datetime.now(UTC).isoformat(),
            "checks": {name: check["status"] for name, check in checks.items()},
        },
        status_code=200 if ok else 503,
    )
