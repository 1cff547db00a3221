"""Pages rendered with the layout's shared state: the CSRF token and who is signed in."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from oppscope.access.interfaces import ANONYMOUS, Principal
from oppscope.access.scopes import Scope
from oppscope.web.context import AppContext
from oppscope.web.pages.security import CSRF_FIELD, csrf_token, set_csrf_cookie
from oppscope.web.rendering import template


def render(
    request: Request,
    name: str,
    *,
    status: int = 200,
    principal: Principal | None = None,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page with the layout's shared state (CSRF token, who is signed in); never cached, it holds both."""
    context: AppContext = request.app.state.context
    body = template(name).render(
        csrf_token=csrf_token(request),
        csrf_field=CSRF_FIELD,
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
