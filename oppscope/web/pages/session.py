"""``/login`` and ``/logout``: a browser session is the API token itself, held in an HttpOnly cookie.

The cookie is SameSite=Strict (never sent on a cross-site request) and Secure where the profile serves HTTPS.
Logging in rotates the CSRF token; every attempt spends the rate limit of the caller's address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from oppscope.access.interfaces import TokenError
from oppscope.access.ratelimit import RateLimiter
from oppscope.web.context import SESSION_COOKIE, Context, client_address
from oppscope.web.pages.forms import text
from oppscope.web.pages.rendering import render
from oppscope.web.pages.routing import PageRoute
from oppscope.web.pages.security import PageError, checked_form, renew_csrf, safe_next, set_csrf_cookie

router = APIRouter(route_class=PageRoute)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, target: Annotated[str, Query(alias="next", max_length=2_000)] = "/") -> HTMLResponse:
    return render(request, "login.html", next=safe_next(target), error=None)


@router.post("/login")
async def login(request: Request, context: Context) -> Response:
    form = await checked_form(request)
    target, token = safe_next(text(form, "next")), text(form, "token").strip()
    wait = context.limiter.acquire(f"login:{client_address(request)}")
    if wait > 0:
        raise PageError(
            429,
            "Too many attempts",
            "Wait a moment before trying again.",
            {"Retry-After": RateLimiter.retry_after_header(wait)},
        )
    try:
        await run_in_threadpool(context.tokens.authenticate, token)
    except TokenError:
        return render(
            request,
            "login.html",
            status=401,
            next=target,
            error="That token is not valid, or it was revoked or has expired.",
            headers={"WWW-Authenticate": 'Bearer realm="oppscope"'},
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=context.settings.secure_cookies, path="/"
    )
    renew_csrf(request)
    set_csrf_cookie(request, response, context)
    return response


@router.post("/logout")
async def logout(request: Request, context: Context) -> Response:
    await checked_form(request)
    response = RedirectResponse("/login" if context.settings.require_auth else "/", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=context.settings.secure_cookies, path="/"
    )
    return response
