"""``POST /api/analyze`` and its two follow-ups, answering the original system's clients unchanged.

Every analysis goes through the same service as ``/api/v1`` (write scope, saved, its failures mapped by
``run_analysis``). ``X-Analysis-Timeout`` bounds the whole answer: past it the client gets a 504 at once,
though the analysis thread, which cannot be interrupted, may still finish and save its result.
The routes stay out of the OpenAPI document: their contract is the original's, lenient by design (unknown keys
and unparsable headers are never refused), which a schema for /api/v1's strict style would misstate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from oppscope.access.interfaces import Principal
from oppscope.access.scopes import Scope
from oppscope.analyses.service import AnalysisNotFoundError
from oppscope.analyses.store import SavedAnalysis
from oppscope.analysis.contracts import Analysis
from oppscope.web.compat.analogs import run_analog_query
from oppscope.web.compat.report import build_report
from oppscope.web.compat.request import OriginalHeaders, OriginalRequest, parse_original, read_json
from oppscope.web.compat.response import (
    analyze_body,
    answer,
    error_response,
    follow_on_fields,
    funding_fields,
    identity,
)
from oppscope.web.context import AppContext, Context, authorize
from oppscope.web.errors import ApiError, api_error

router = APIRouter(prefix="/api/analyze", include_in_schema=False)
logger = logging.getLogger(__name__)

Body = dict[str, Any]
Respond = Callable[[AppContext, Principal, OriginalRequest, OriginalHeaders], Coroutine[Any, Any, Body]]

# Work past its deadline runs on (a thread cannot be stopped); holding it here keeps it from being collected.
_abandoned: set[asyncio.Task[Body]] = set()


async def _within(seconds: int, work: Coroutine[Any, Any, Body]) -> Body:
    """``work``'s result, or a 504 once ``seconds`` have passed, without waiting for the work to stop.

    ``asyncio.wait_for`` would not do: cancelling a coroutine that waits on a worker thread only takes effect
    when the thread returns, so the deadline would not be kept.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task}, timeout=seconds)
    finally:  # past the deadline, or the client went away
        if not task.done():
            task.cancel()
            _abandoned.add(task)
            task.add_done_callback(_forget)
    if task.done():
        return task.result()
    raise ApiError(
        504,
        "analysis_timeout",
        f"the analysis did not finish within {seconds} seconds (X-Analysis-Timeout)",
        {"timeout_seconds": seconds},
    )


def _forget(task: asyncio.Task[Body]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so a late failure is not reported as "never retrieved"


async def _answer(request: Request, context: AppContext, respond: Respond) -> JSONResponse:
    """Refuse during emergency maintenance, authorise (both before the body is looked at), parse the original
    request, and answer within its deadline."""
    headers = OriginalHeaders.read(request.headers)
    try:
        context.services.emergency.refuse_if_on()
        principal = authorize(request, context, Scope.write, allow_cookie=False)
        original = parse_original(read_json(await request.body()))
        body = await _within(headers.timeout_seconds, respond(context, principal, original, headers))
    except Exception as exc:  # answered here, not by the app's handlers: these clients read a top-level `message`
        known = api_error(request, exc)
        if known is None:
            logger.exception("unhandled error on %s %s", request.method, request.url.path)
            known = ApiError(500, "internal_error", "the server failed unexpectedly")
        return error_response(known)
    return JSONResponse(answer(body))


async def _create(context: AppContext, principal: Principal, original: OriginalRequest) -> SavedAnalysis:
    saved, _ = await run_in_threadpool(context.service.create, original.opportunity, created_by=principal.id)
    return saved


async def _analysis(
    context: AppContext, principal: Principal, original: OriginalRequest, headers: OriginalHeaders
) -> Body:
    saved = await _create(context, principal, original)
    analysis = Analysis.model_validate(saved.analysis)
    ids = [p.opportunity_id for p in analysis.similar_projects]
    query = await run_in_threadpool(run_analog_query, context.history.reader, ids, headers.row_limit)
    report = build_report(analysis, query.by_id())
    return analyze_body(saved, analysis, report, original, headers, query)


@router.post("")
async def analyze(request: Request, context: Context) -> JSONResponse:
    return await _answer(request, context, _analysis)


def _follow_up(fields: Callable[[Analysis], Body]) -> Respond:
    """A follow-up answer: ``fields`` of the analysis the client already has, or of a new one."""

    async def respond(
        context: AppContext, principal: Principal, original: OriginalRequest, _: OriginalHeaders
    ) -> Body:
        saved = await _reusable(context, principal, original) or await _create(context, principal, original)
        analysis = Analysis.model_validate(saved.analysis)
        return {**identity(saved, analysis, original), **fields(analysis)}

    return respond


async def _reusable(context: AppContext, principal: Principal, original: OriginalRequest) -> SavedAnalysis | None:
    """The analysis named by ``analysisResults.analysisId`` if the caller may read it and its input is this one."""
    if not original.analysis_id or Scope.read not in principal.scopes:
        return None
    try:
        saved: SavedAnalysis = await run_in_threadpool(context.service.get, original.analysis_id)
    except AnalysisNotFoundError:
        return None
    kept = context.service.accept(original.opportunity)  # as the service stored it: its free text masked
    return saved if saved.analysis.get("input") == kept.model_dump(mode="json") else None


@router.post("/funding")
async def funding(request: Request, context: Context) -> JSONResponse:
    return await _answer(request, context, _follow_up(funding_fields))


@router.post("/next-opportunity")
async def next_opportunity(request: Request, context: Context) -> JSONResponse:
    return await _answer(request, context, _follow_up(follow_on_fields))
