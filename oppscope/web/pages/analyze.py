"""``GET /`` the analyze form and ``POST /analyses`` its submission (Post/Redirect/Get to the result)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from oppscope.access.interfaces import Principal
from oppscope.history.store import HistoryError
from oppscope.web.context import AnalysisGate, AppContext, Context
from oppscope.web.pages.forms import CLOSE_DATE_MAX, CLOSE_DATE_MIN, GROUPS, choices, read_form
from oppscope.web.pages.rendering import render
from oppscope.web.pages.routing import PageReader, PageRoute, PageWriter
from oppscope.web.pages.security import checked_form

router = APIRouter(route_class=PageRoute)


def form_page(
    request: Request,
    context: AppContext,
    principal: Principal,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    """The form, empty (a saved draft may fill it) or as submitted with each error at its field (422)."""
    try:
        engine = context.engines.current()
        vocabulary, history_rows = choices(engine.form_vocabulary), engine.history.n
    except HistoryError:
        vocabulary, history_rows = choices({}), None
    return render(
        request,
        "analyze.html",
        status=422 if errors else 200,
        principal=principal,
        groups=GROUPS,
        values=values or {},
        errors=errors or {},
        vocabulary=vocabulary,
        history_rows=history_rows,
        date_min=CLOSE_DATE_MIN,
        date_max=CLOSE_DATE_MAX,
    )


@router.get("/", response_class=HTMLResponse)
def analyze_page(request: Request, context: Context, principal: PageReader) -> HTMLResponse:
    return form_page(request, context, principal)


@router.post("/analyses", dependencies=[AnalysisGate])
async def create_from_form(request: Request, context: Context, principal: PageWriter) -> Response:
    submission = read_form(await checked_form(request))
    if submission.opportunity is None:
        return await run_in_threadpool(form_page, request, context, principal, submission.values, submission.errors)
    saved, _ = await run_in_threadpool(context.service.create, submission.opportunity, created_by=principal.id)
    return RedirectResponse(f"/analyses/{saved.id}", status_code=303)
