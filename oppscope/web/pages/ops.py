"""``GET /ops``, the operations dashboard, and ``GET /ops/data``, the JSON its charts draw.

Both read ``oppscope.ops.diagnostics.ops_report``, the computation behind ``oppscope diagnose`` and ``alerts
check``, so the page shows the numbers the CLI prints. They need the ``ops`` scope (open in development, like
every page there); the data answers JSON errors, the page HTML ones.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from oppscope.access.interfaces import Principal
from oppscope.access.scopes import Scope
from oppscope.ops import dashboard
from oppscope.ops.diagnostics import ops_report
from oppscope.web.context import AppContext, Context, requires
from oppscope.web.pages.rendering import render
from oppscope.web.pages.routing import PageRoute
from oppscope.web.pages.security import page_principal

router = APIRouter()
pages = APIRouter(route_class=PageRoute)

WindowName = Literal["15m", "1h", "24h"]
WindowQuery = Annotated[WindowName, Query(description="15m, 1h or 24h")]
OpsReader = Annotated[Principal, requires(Scope.ops, allow_cookie=True)]


def _page_ops(request: Request, context: Context) -> Principal:
    return page_principal(request, context, Scope.ops)


def data(context: AppContext, window: WindowName) -> dict[str, Any]:
    """The shared report, the charts, and what only this worker knows: its cache's entries (caches are per
    worker, so the time series can count look-ups but not entries)."""
    telemetry = context.services.metrics  # this worker's series: it adds what it has not flushed yet
    series = telemetry.series if telemetry is not None else None
    report = ops_report(context.settings, dashboard.WINDOWS[window], series=series)
    cache = context.service.cache.stats()
    emergency = context.services.emergency.state()
    return {
        "window_name": window,
        **report.as_dict(),
        "emergency": None if emergency is None else emergency.as_dict(),
        "charts": dashboard.charts(context.settings, report.stats),
        "worker": {"pid": os.getpid(), "cache_entries": cache.entries, "cache_max_entries": cache.max_entries},
    }


@pages.get("/ops", response_class=HTMLResponse)
async def ops_page(
    request: Request,
    context: Context,
    principal: Annotated[Principal, Depends(_page_ops)],
    window: WindowQuery = "1h",
) -> HTMLResponse:
    values = await run_in_threadpool(data, context, window)
    return render(
        request,
        "ops.html",
        principal=principal,
        d=values,
        windows=list(dashboard.WINDOWS),
        panels=dashboard.panels(context.settings),
        settings=context.settings,
    )


@router.get("/ops/data")
async def ops_data(context: Context, _: OpsReader, window: WindowQuery = "1h") -> JSONResponse:
    body = await run_in_threadpool(data, context, window)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


router.include_router(pages)
