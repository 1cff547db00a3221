"""The JSON API under ``/api/v1``: analyses (create, get, list, export, rerun) and the history behind them."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from oppscope.analyses import export
from oppscope.analyses.store import AnalysisQuery, AnalysisSummary, SavedAnalysis
from oppscope.analysis.contracts import Analysis, Opportunity
from oppscope.history.store import HistoryStats
from oppscope.web.context import AnalysisGate, Context, Reader, Writer
from oppscope.web.errors import responses
from oppscope.web.links import API_PREFIX, ExportFormat, links
from oppscope.web.rendering import print_view

router = APIRouter(prefix=API_PREFIX)

_IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,200}$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=_IDEMPOTENCY_KEY,
        description="Any printable ASCII up to 200 characters; a retry with the same key and body returns the "
        "first answer instead of creating a second analysis.",
    ),
]


class Links(BaseModel):
    self: str
    page: str
    rerun: str
    export: dict[str, str]


class SavedAnalysisOut(Analysis):
    id: str
    created_at: str
    rerun_of: str | None
    links: Links


class SummaryOut(AnalysisSummary):
    links: dict[str, str]


class PageOut(BaseModel):
    items: list[SummaryOut]
    total: int
    limit: int
    offset: int
    links: dict[str, str | None]


class Vocabulary(BaseModel):
    industries: list[str]
    customer_segments: list[str]
    countries: list[str]
    regions: list[str]
    partners: list[str]
    activities: list[str]
    migration_phases: list[str]


def saved_response(saved: SavedAnalysis, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The saved analysis with its identity and links, spliced around the stored JSON text.

    The document is about 20 KB; parsing it and serialising it again would cost more than the analysis.
    """
    head = json.dumps(saved.identity)[:-1]
    tail = json.dumps({"links": links(saved.id)})[1:]
    body = f"{head},{saved.document[1:-1]},{tail}"
    return Response(body, status_code=status, headers=headers, media_type="application/json")


# A retried create or rerun with the same Idempotency-Key answers 200 (and `Idempotent-Replayed: true`), not 201.
_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A replayed request: the analysis the first request with this Idempotency-Key created.",
        "model": SavedAnalysisOut,
    }
}


def _created(saved: SavedAnalysis, created: bool) -> Response:
    headers = {"Location": f"/api/v1/analyses/{saved.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return saved_response(saved, 201 if created else 200, headers)


@router.post(
    "/analyses",
    tags=["analyses"],
    status_code=201,
    response_model=SavedAnalysisOut,
    responses=responses(400, 401, 403, 409, 413, 422, 429, 503) | _REPLAYED,
    dependencies=[AnalysisGate],
    summary="Analyse an opportunity and save the result",
)
async def create_analysis(
    opportunity: Opportunity, context: Context, principal: Writer, idempotency_key: IdempotencyKey = None
) -> Response:
    saved, created = await run_in_threadpool(
        context.service.create, opportunity, created_by=principal.id, idempotency_key=idempotency_key
    )
    return _created(saved, created)


@router.get(
    "/analyses/{analysis_id}",
    tags=["analyses"],
    response_model=SavedAnalysisOut,
    responses=responses(401, 403, 404, 429),
    summary="One saved analysis",
)
def get_analysis(analysis_id: Annotated[str, Field(max_length=64)], context: Context, _: Reader) -> Response:
    return saved_response(context.service.get(analysis_id))


_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?")


def _iso_only(value: object) -> object:
    """Pydantic would also read ``0.0`` as a Unix time; the parameters promise ISO, so only ISO is taken."""
    if isinstance(value, str) and not _ISO_MOMENT.fullmatch(value):
        raise ValueError("must be an ISO date or date-time")
    return value


IsoMoment = Annotated[
    date | datetime | None,
    BeforeValidator(_iso_only),
    Query(description="ISO date or date-time; a date means the whole day."),
]


def _moment(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A bare date means its whole day: ``from`` its start, ``to`` its end."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1) if end else value, time.min)


@router.get(
    "/analyses",
    tags=["analyses"],
    response_model=PageOut,
    responses=responses(401, 403, 422, 429),
    summary="Saved analyses, newest first",
)
def list_analyses(
    request: Request,
    context: Context,
    _: Reader,
    customer: Annotated[str | None, Query(max_length=300, description="Exact customer (case-insensitive).")] = None,
    q: Annotated[str | None, Query(max_length=300, description="Words that must all appear.")] = None,
    created_from: IsoMoment = None,
    created_to: IsoMoment = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PageOut:
    page = context.service.store.list(
        AnalysisQuery(
            customer=customer,
            text=q,
            created_from=_moment(created_from, end=False),
            created_to=_moment(created_to, end=True),
            limit=limit,
            offset=offset,
        )
    )

    def at(new_offset: int) -> str:
        return str(request.url.include_query_params(offset=new_offset, limit=limit))

    return PageOut(
        items=[_summary(item) for item in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
        links={
            "next": at(offset + limit) if offset + limit < page.total else None,
            "prev": at(max(0, offset - limit)) if offset > 0 else None,
        },
    )


def _summary(item: AnalysisSummary) -> SummaryOut:
    where = links(item.id)
    return SummaryOut(**item.model_dump(), links={"self": where["self"], "page": where["page"]})


_WRITERS = {ExportFormat.json: export.as_json, ExportFormat.csv: export.as_csv, ExportFormat.md: export.as_markdown}
_MEDIA = {
    ExportFormat.json: "application/json",
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.md: "text/markdown; charset=utf-8",
    ExportFormat.html: "text/html; charset=utf-8",
}


@router.get(
    "/analyses/{analysis_id}/export",
    tags=["analyses"],
    responses=responses(401, 403, 404, 422, 429)
    | {200: {"content": {m: {} for m in _MEDIA.values()}, "description": "The analysis as a file."}},
    summary="Download a saved analysis as JSON, CSV, Markdown or a printable HTML page",
)
def export_analysis(
    analysis_id: Annotated[str, Field(max_length=64)],
    context: Context,
    _: Reader,
    format: ExportFormat = ExportFormat.json,
) -> Response:
    saved = context.service.get(analysis_id)
    body = print_view(saved) if format is ExportFormat.html else _WRITERS[format](saved)
    filename = f"oppscope-{saved.id}.{format.value}"
    return Response(
        body, media_type=_MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post(
    "/analyses/{analysis_id}/rerun",
    tags=["analyses"],
    status_code=201,
    response_model=SavedAnalysisOut,
    responses=responses(400, 401, 403, 404, 409, 429, 503) | _REPLAYED,
    dependencies=[AnalysisGate],
    summary="Analyse a saved analysis' input again, against the current history",
)
async def rerun_analysis(
    analysis_id: Annotated[str, Field(max_length=64)],
    context: Context,
    principal: Writer,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    saved, created = await run_in_threadpool(
        context.service.rerun, analysis_id, created_by=principal.id, idempotency_key=idempotency_key
    )
    return _created(saved, created)


@router.get("/history/stats", tags=["history"], response_model=HistoryStats, responses=responses(401, 403, 429, 503))
def history_stats(context: Context, _: Reader) -> HistoryStats:
    with context.history.reader() as store:
        return store.stats()


@router.get("/history/vocabulary", tags=["history"], response_model=Vocabulary, responses=responses(401, 403, 429, 503))
def history_vocabulary(context: Context, _: Reader) -> Vocabulary:
    """The distinct values the form offers, as the history spells them, most frequent first."""
    return Vocabulary(**context.engines.current().form_vocabulary)
