"""The API's error shape on every path: ``{"error": {"code", "message", "details"}}``, never a stack trace.

Every failure of ours is an ``OppscopeError`` whose kind becomes a status through ``HTTP_STATUS``, the one table;
FastAPI's validation errors, Starlette's HTTP errors, the state database's driver errors and anything unexpected
are answered in the same shape, so a client learns one format for 400, 401, 403, 404, 409, 413, 422, 429 and 5xx.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from oppscope.errors import ErrorKind, OppscopeError, error_body, field_errors, invalid_input_message
from oppscope.state.db import StateUnavailableError

logger = logging.getLogger(__name__)

# The one place an error's kind becomes an HTTP status.
HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.malformed: 400,
    ErrorKind.unauthorized: 401,
    ErrorKind.forbidden: 403,
    ErrorKind.not_found: 404,
    ErrorKind.conflict: 409,
    ErrorKind.too_large: 413,
    ErrorKind.invalid: 422,
    ErrorKind.rate_limited: 429,
    ErrorKind.internal: 500,
    ErrorKind.unavailable: 503,
    ErrorKind.timeout: 504,
}
_KIND_OF_STATUS = {status: kind for kind, status in HTTP_STATUS.items()}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="oppscope"'}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(OppscopeError):
    """An error as HTTP answers it: its status (from the kind, through ``HTTP_STATUS``) and headers.

    The web layer raises it directly, stated as the status it answers; ``api_error`` makes one from any other
    failure, so the JSON API, the original's endpoint and the pages answer a failure alike."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code, message, details, kind=_KIND_OF_STATUS[status], retry_after=retry_after)
        self.status = status
        self.headers = {**_implied_headers(self), **(headers or {})}


def _implied_headers(error: OppscopeError) -> dict[str, str]:
    """The headers a kind calls for: a challenge with a 401, ``Retry-After`` when waiting may help."""
    headers = dict(CHALLENGE) if error.kind is ErrorKind.unauthorized else {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers


def api_error(request: Request, exc: Exception) -> ApiError | None:
    """What a failure means over HTTP; None for a bug."""
    if isinstance(exc, DBAPIError):
        logger.error("state database error on %s %s: %s", request.method, request.url.path, exc.orig)
        exc = StateUnavailableError(exc)
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, StarletteHTTPException) and exc.status_code in _KIND_OF_STATUS:
        # e.g. the body limit, crossed while a route reads the body itself
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
    if isinstance(exc, OppscopeError):
        return ApiError(HTTP_STATUS[exc.kind], exc.code, exc.message, exc.details, retry_after=exc.retry_after)
    return None


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses}


_DESCRIPTIONS = {
    400: "The request is malformed (bad JSON, bad header).",
    401: "A bearer token is required, or the one sent is not valid.",
    403: "The token lacks the scope this call needs.",
    404: "No such resource.",
    409: "The idempotency key was used for a different request.",
    413: "The request body is larger than allowed.",
    422: "The request is well formed but its values are not valid.",
    429: "Too many requests: wait for Retry-After seconds.",
    503: "The history or the engine is not available, or analyses are paused for maintenance (see Retry-After).",
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method the path answers. Starlette names only the first route that matched the path, and the GET
    and POST of one path are separate routes here, so each method is tried against the routes."""
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.routes)
    )


def install_error_handlers(app: FastAPI) -> None:
    async def _known(request: Request, exc: Exception) -> JSONResponse:
        error = api_error(request, exc)
        assert error is not None, "registered only for the classes api_error translates"
        return error_response(error.status, error.code, error.message, error.details, error.headers)

    for known in (OppscopeError, DBAPIError):
        app.add_exception_handler(known, _known)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(400, "invalid_json", "the request body is not valid JSON", {"errors": errors})
        return error_response(422, "invalid_input", invalid_input_message(len(errors)), {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "the server failed unexpectedly", {"type": type(exc).__name__})
