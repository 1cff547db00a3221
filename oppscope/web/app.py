"""The HTTP face of oppscope.

``create_app`` only wires routes: the analysis engine is loaded in the lifespan, so importing this module (as
uvicorn's factory lookup and the tests do) costs nothing and a broken history shows up as a 503 from
``/health/ready`` instead of a server that refuses to start. Every error, FastAPI's own validation errors
included, has the shape ``{"error": {"code", "message", "details"}}`` that the CLI prints too.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from oppscope import __version__
from oppscope.analysis.models import Analysis, Opportunity
from oppscope.config import Settings, load_settings
from oppscope.errors import error_body, field_errors, invalid_input_message
from oppscope.history.store import HistoryError

if TYPE_CHECKING:
    from oppscope.analysis.engine import Engine

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "The request body is not a valid opportunity."},
    500: {"model": ErrorBody, "description": "The analysis failed."},
    503: {"model": ErrorBody, "description": "The history is not available."},
}


@dataclass
class _Runtime:
    """The engine the app shares across worker threads (analyses only read it)."""

    engine: Engine | None = None
    startup_error: HistoryError | None = None


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; without ``settings`` they come from the profile and ``OPPSCOPE_*`` variables."""
    resolved = settings or load_settings()
    shared = _Runtime()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from oppscope.analysis.runtime import load_engine

        try:
            shared.engine = await run_in_threadpool(load_engine, resolved)
        except HistoryError as exc:
            shared.startup_error = exc
            logger.warning("analysis engine unavailable: %s (%s)", exc.message, exc.code)
        yield

    app = FastAPI(title="oppscope", version=__version__, lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(
                422, "invalid_json", "the request body is not valid JSON", {"errors": errors}
            )
        return error_response(422, "invalid_input", invalid_input_message(len(errors)), {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error_response(
            exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)
        )
        response.headers.update(exc.headers or {})
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        status = _history_status(resolved)
        rows = status.get("rows")
        history = (
            f"{rows:,} projects in the history, snapshot "
            f"<code>{html.escape(str(status['snapshot_id']))}</code>."
            if isinstance(rows, int)
            else f"The history is not available: {html.escape(str(status['error']['message']))}"
        )
        return HTMLResponse(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>oppscope</title></head><body>"
            f"<h1>oppscope</h1><p>oppscope {html.escape(__version__)} is running.</p><p>{history}</p>"
            '<p>The JSON API is documented at <a href="/docs">/docs</a>.</p></body></html>'
        )

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready")
    def ready() -> JSONResponse:
        history = _history_status(resolved)
        if shared.engine is not None:
            analysis: dict[str, Any] = {"status": "ok"}
        else:
            error = shared.startup_error
            analysis = {
                "status": "error",
                "error": {"code": error.code, "message": error.message} if error else {"code": "not_started"},
            }
        is_ready = history["status"] == "ok" and analysis["status"] == "ok"
        return JSONResponse(
            {
                "status": "ready" if is_ready else "not_ready",
                "checks": {"history": history, "analysis": analysis},
            },
            status_code=200 if is_ready else 503,
        )

    @app.post(
        "/api/v1/analyses",
        status_code=201,
        response_model=Analysis,
        responses=_ERROR_RESPONSES,
        summary="Analyse an opportunity",
    )
    def create_analysis(opportunity: Opportunity) -> JSONResponse:
        engine = shared.engine
        if engine is None:
            error = shared.startup_error
            return error_response(
                503,
                error.code if error else "not_ready",
                error.message if error else "the analysis engine is not loaded",
                error.details if error else None,
            )
        try:
            analysis = engine.analyze(opportunity)
        except HistoryError as exc:
            return error_response(503, exc.code, exc.message, exc.details)
        except Exception as exc:
            logger.exception("analysis failed")
            return error_response(
                500, "analysis_failed", "the analysis failed unexpectedly", {"type": type(exc).__name__}
            )
        return JSONResponse(analysis.model_dump(mode="json"), status_code=201)

    return app


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def _history_status(settings: Settings) -> dict[str, Any]:
    """Open the store afresh, as a new worker would: ready means it opens and holds at least one row."""
    from oppscope.history.factory import open_history_store

    started = time.perf_counter()
    try:
        with open_history_store(settings, read_only=True) as store:
            rows, snapshot = store.row_count(), store.snapshot_id()
    except HistoryError as exc:
        return {
            "status": "error",
            "error": {"code": exc.code, "message": exc.message},
            "latency_ms": _elapsed_ms(started),
        }
    return {
        "status": "ok" if rows > 0 else "empty",
        "rows": rows,
        "snapshot_id": snapshot,
        "latency_ms": _elapsed_ms(started),
    }


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
