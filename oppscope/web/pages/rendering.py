"""Jinja2 rendering for every page and for the printable export, with the report's own formatters as filters.

Money and month ranges are formatted by ``oppscope.analysis.narrative`` so a figure reads the same on the page,
in the Markdown export and in the prose. Templates are autoescaped and undefined names fail loudly.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from oppscope.access.scopes import Scope
from oppscope.access.tokens import ANONYMOUS, Principal
from oppscope.analyses.store import SavedAnalysis
from oppscope.analysis.models import Analysis
from oppscope.analysis.narrative import money, money_range, months, months_range
from oppscope.web.app import STATIC_DIR
from oppscope.web.context import AppContext
from oppscope.web.pages.formatting import long_date, month_name, percent, timestamp
from oppscope.web.pages.security import CSRF_FIELD, csrf_token, set_csrf_cookie


@cache
def asset(path: str) -> str:
    """A static file's URL with a content hash, so a new release is never served a stale cached copy."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


_env = Environment(
    loader=PackageLoader("oppscope.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    money=money,
    money_range=money_range,
    months_range=months_range,
    month_name=month_name,
    long_date=long_date,
    timestamp=timestamp,
    months=months,
    percent=percent,
)
_env.globals.update(asset=asset, csrf_field=CSRF_FIELD)


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    principal: Principal | None = None,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page with the layout's shared state (CSRF token, who is signed in); never cached, it holds both."""
    context: AppContext = request.app.state.context
    body = _env.get_template(template).render(
        csrf_token=csrf_token(request),
        principal=principal,
        signed_in=principal is not None and principal is not ANONYMOUS,
        can_write=principal is not None and Scope.write in principal.scopes,
        require_auth=context.settings.require_auth,
        path=request.url.path,
        **values,
    )
    response = HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
    set_csrf_cookie(request, response, context)
    return response


def report_values(saved: SavedAnalysis) -> dict[str, Any]:
    """What the report partial needs, shared by the result page and the print view."""
    return {"saved": saved, "a": Analysis.model_validate(saved.analysis)}


def print_view(saved: SavedAnalysis) -> str:
    """The whole analysis as one printable HTML document (the ``format=html`` export): no script, no form."""
    return _env.get_template("print.html").render(**report_values(saved))
