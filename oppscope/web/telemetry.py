"""Every request measured once, outermost: its request id, the request log line, the metrics and time series.

The route is the matched route's template (``/api/v1/analyses/{analysis_id}``), never the raw path: label
values stay few, and an id or a customer's name in a path never reaches a label or the log. Paths that match no
route are counted under ``unmatched``. The error code is read from the structured error body, so the log can be
grouped by it. An ``X-Request-ID`` sent by a proxy is kept when it is well formed, else one is made; either way
it is bound to every log record of the request and echoed in the answer.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oppscope.access.interfaces import Principal
from oppscope.access.scopes import Scope as TokenScope
from oppscope.ops.metrics import UNMATCHED_ROUTE, Telemetry, render_metrics
from oppscope.web.context import requires

log = structlog.get_logger("oppscope.web.request")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$")
_MAX_ERROR_BODY = 65_536
# Any token is a valid HTTP method; labels take the known ones, so a client cannot grow the label set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes arrive every few seconds: logged at debug, so the info log is the traffic people send.
_QUIET_PREFIXES = ("/health", "/metrics", "/static/", "/favicon")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes one by one. FastAPI keeps an included router as a single entry that matches without
    naming its route (``original_router``); its routes carry their full path already."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _leaf_routes(nested.routes)
        else:
            yield route


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered; for answers given before routing (a refused body) or by a
    mounted app (static files), the route the path matches. ``root_path`` is the one the request came with: a
    mount changes the scope's."""
    route = scope.get("route")
    if route is None:
        probe = {"type": "http", "path": scope["path"], "root_path": root_path, "method": scope["method"]}
        app = scope.get("app")
        for candidate in _leaf_routes(getattr(getattr(app, "router", None), "routes", ())):
            if candidate.matches(probe)[0] is not Match.NONE:
                route = candidate
                break
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED_ROUTE


def _error_code(body: bytes) -> str | None:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _telemetry(scope: Scope) -> Telemetry | None:
    """The app's telemetry, built with its services in the lifespan (None before it, or with metrics off)."""
    context = getattr(scope["app"].state, "context", None)
    return None if context is None else context.services.metrics


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        root_path = scope.get("root_path", "")
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status: int | None = None
        error_body: bytearray | None = None
        telemetry = _telemetry(scope)
        if telemetry is not None:
            telemetry.received()

        async def measured_send(message: Message) -> None:
            nonlocal status, error_body
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", request_id.encode()))
                if status >= 400:
                    error_body = bytearray()
            elif (
                message["type"] == "http.response.body" and error_body is not None and len(error_body) < _MAX_ERROR_BODY
            ):
                error_body += message.get("body", b"")
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, measured_send)
        except Exception:
            failed = True  # the outer ServerErrorMiddleware answers 500 once this is re-raised
            raise
        finally:
            duration = time.perf_counter() - started
            status = 500 if status is None else status
            self._report(scope, root_path, telemetry, status, duration, failed, error_body)

    def _report(
        self,
        scope: Scope,
        root_path: str,
        telemetry: Telemetry | None,
        status: int,
        duration: float,
        failed: bool,
        error_body: bytearray | None,
    ) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = route_template(scope, root_path)
        if telemetry is not None:  # the one that counted the request in: it counts it out
            telemetry.request(method, route, status, duration)
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
        }
        code = "internal_error" if failed and status >= 500 else _error_code(bytes(error_body or b""))
        if code is not None:
            fields["error_code"] = code
        if status >= 500:
            log.error("request", **fields)
        elif status >= 400:
            log.warning("request", **fields)
        elif scope["path"].startswith(_QUIET_PREFIXES):
            log.debug("request", **fields)
        else:
            log.info("request", **fields)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(_: Annotated[Principal, requires(TokenScope.ops)]) -> Response:
    """Prometheus' scrape (the ``ops`` scope where tokens are required)."""
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
