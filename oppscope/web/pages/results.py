"""Saved analyses as pages: the history list, one result with its charts, and a rerun of it."""

from __future__ import annotations

from math import ceil
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from oppscope.analyses.service import AnalysisNotFoundError
from oppscope.analyses.store import AnalysisQuery, SavedAnalysis
from oppscope.web.context import AppContext, Context
from oppscope.web.links import links
from oppscope.web.pages.charts import chart_data
from oppscope.web.pages.rendering import render
from oppscope.web.pages.routing import PageReader, PageRoute, PageWriter
from oppscope.web.pages.security import PageError, checked_form
from oppscope.web.rendering import report_values

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 20
AnalysisId = Annotated[str, Path(max_length=64)]
SearchText = Annotated[str, Query(max_length=300)]


@router.get("/analyses", response_class=HTMLResponse)
def history_page(
    request: Request,
    context: Context,
    principal: PageReader,
    q: SearchText = "",
    customer: SearchText = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    q, customer = q.strip(), customer.strip()
    found = context.service.store.list(
        AnalysisQuery(customer=customer or None, text=q or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    )
    pages = max(1, ceil(found.total / PAGE_SIZE))

    def at(number: int) -> str:
        return "/analyses?" + urlencode({k: v for k, v in (("q", q), ("customer", customer)) if v} | {"page": number})

    return render(
        request,
        "history.html",
        principal=principal,
        items=found.items,
        total=found.total,
        first=(page - 1) * PAGE_SIZE + 1,
        page=page,
        pages=pages,
        prev_url=at(page - 1) if page > 1 else None,
        next_url=at(page + 1) if page < pages else None,
        q=q,
        customer=customer,
    )


def _saved(context: AppContext, analysis_id: str) -> SavedAnalysis:
    try:
        return context.service.get(analysis_id)
    except AnalysisNotFoundError:
        raise PageError(404, "Analysis not found", f"There is no analysis with id “{analysis_id}”.") from None


@router.get("/analyses/{analysis_id}", response_class=HTMLResponse)
def result_page(request: Request, analysis_id: AnalysisId, context: Context, principal: PageReader) -> HTMLResponse:
    values = report_values(_saved(context, analysis_id))
    return render(
        request,
        "result.html",
        principal=principal,
        charts=chart_data(values["a"]),
        exports=links(analysis_id)["export"],
        **values,
    )


@router.post("/analyses/{analysis_id}/rerun")
async def rerun(request: Request, analysis_id: AnalysisId, context: Context, principal: PageWriter) -> Response:
    await checked_form(request)
    saved, _ = await run_in_threadpool(context.service.rerun, analysis_id, created_by=principal.id)
    return RedirectResponse(f"/analyses/{saved.id}", status_code=303)
