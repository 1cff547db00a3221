"""What every request handler shares (settings, engine, stores, limits) and who the caller is.

The caller is found from ``Authorization: Bearer <token>`` or, for pages, the session cookie that ``/login``
sets. Where the profile leaves the API open (development), a request without a token acts as
``anonymous`` with every scope, but a token that is sent is still checked: a wrong token is never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from oppscope.access.interfaces import ANONYMOUS, Principal, TokenError, TokenStore
from oppscope.access.ratelimit import RateLimiter
from oppscope.access.scopes import Scope
from oppscope.analyses.service import AnalysisService
from oppscope.config import Settings
from oppscope.engines.holder import EngineHolder
from oppscope.web.errors import ApiError
from oppscope.wiring import HistoryAccess, Services

SESSION_COOKIE = "oppscope_session"


@dataclass
class AppContext:
    """The process' backends (from the wiring) and the per-process rate limiter."""

    services: Services
    limiter: RateLimiter

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def history(self) -> HistoryAccess:
        return self.services.history

    @property
    def engines(self) -> EngineHolder:
        return self.services.engines

    @property
    def service(self) -> AnalysisService:
        return self.services.analyses

    @property
    def tokens(self) -> TokenStore:
        return self.services.tokens


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(app_context)]


def _presented_token(request: Request, *, allow_cookie: bool) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "invalid_token", "use `Authorization: Bearer <token>`")
        return token.strip()
    return request.cookies.get(SESSION_COOKIE) if allow_cookie else None


def authenticate(request: Request, context: AppContext, *, allow_cookie: bool) -> Principal:
    token = _presented_token(request, allow_cookie=allow_cookie)
    if token is None:
        if context.settings.require_auth:
            raise ApiError(401, "unauthorized", "this call needs a bearer token")
        return ANONYMOUS
    try:
        return context.tokens.authenticate(token)
    except TokenError as exc:
        raise ApiError(401, exc.code, exc.message) from None


def presented_principal(request: Request, context: AppContext) -> Principal | None:
    """The caller if a token or session was presented (checked: a wrong one is still a 401), else None; for
    the few answers that are open to anyone but say more to a caller with the right scope."""
    if _presented_token(request, allow_cookie=True) is None:
        return None
    return authenticate(request, context, allow_cookie=True)


def authorize(request: Request, context: AppContext, scope: Scope, *, allow_cookie: bool) -> Principal:
    """Authenticate, check the scope, then spend one request of the caller's rate limit."""
    principal = authenticate(request, context, allow_cookie=allow_cookie)
    if scope not in principal.scopes:
        raise ApiError(
            403,
            "insufficient_scope",
            f"this call needs the {scope.value!r} scope",
            {"required": scope.value, "granted": sorted(principal.scopes)},
        )
    key = principal.id if principal is not ANONYMOUS else f"anonymous:{client_address(request)}"
    wait = context.limiter.acquire(key)
    if wait > 0:
        retry = RateLimiter.retry_after_header(wait)
        raise ApiError(
            429,
            "rate_limited",
            "too many requests; retry later",
            {"retry_after_seconds": int(retry)},
            headers={"Retry-After": retry},
        )
    return principal


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def requires(scope: Scope, *, allow_cookie: bool = False) -> object:
    """A dependency that yields the authorised caller for ``scope``."""

    def dependency(request: Request, context: Context) -> Principal:
        return authorize(request, context, scope, allow_cookie=allow_cookie)

    return Depends(dependency)


def refuse_in_emergency(context: Context) -> None:
    """Before anything else on an analysis route: 503 with ``Retry-After`` while emergency maintenance is on."""
    context.services.emergency.refuse_if_on()


# The analysis endpoints' gate (creating, rerunning); reads of saved analyses never pass through it.
AnalysisGate = Depends(refuse_in_emergency)
Reader = Annotated[Principal, requires(Scope.read, allow_cookie=True)]
Writer = Annotated[Principal, requires(Scope.write)]
