"""Page routes answer in HTML whatever goes wrong: the app's exception handlers speak JSON for the API, so a
route class catches errors on page routes first and renders them as pages (or sends the browser to log in)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from oppscope.access.interfaces import Principal
from oppscope.access.scopes import Scope
from oppscope.web.context import Context
from oppscope.web.errors import api_error
from oppscope.web.pages.rendering import render
from oppscope.web.pages.security import NotSignedInError, PageError, page_principal

logger = logging.getLogger(__name__)


class PageRoute(APIRoute):
    """Route class for pages: a missing session redirects to ``/login``, every error becomes an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedInError:
                return RedirectResponse(login_url(request), status_code=303)
            except RequestValidationError:
                return error_page(request, 422, "The address has a value that is not valid; check the link.")
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))
            except Exception as exc:
                known = api_error(request, exc)
                if known is None:
                    logger.exception("unhandled error on page %s %s", request.method, request.url.path)
                    return error_page(request, 500, "The server failed unexpectedly")
                title = known.title if isinstance(known, PageError) else _title(known.status)
                message = known.message if isinstance(known, PageError) else _capital(known.message)
                return error_page(request, known.status, message, known.headers, title=title)

        return page_handler


def login_url(request: Request) -> str:
    """Back to this page after login, for a page view; a failed post cannot be replayed, so it goes home."""
    if request.method != "GET":
        return "/login"
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?{urlencode({'next': here})}"


def error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None, *, title: str | None = None
) -> Response:
    error = {"status": status, "title": title or _title(status), "message": message}
    return render(request, "error.html", status=status, headers=headers, error=error)


_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid request",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


def _title(status: int) -> str:
    return _TITLES.get(status, "Something went wrong")


def _capital(message: str) -> str:
    return message[:1].upper() + message[1:]


def _reader(request: Request, context: Context) -> Principal:
    return page_principal(request, context, Scope.read)


def _writer(request: Request, context: Context) -> Principal:
    return page_principal(request, context, Scope.write)


PageReader = Annotated[Principal, Depends(_reader)]
PageWriter = Annotated[Principal, Depends(_writer)]
