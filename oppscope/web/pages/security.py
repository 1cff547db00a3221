"""Who may see a page and whether a posted form really came from one of ours.

Pages accept the session cookie that ``/login`` sets (the API token itself, HttpOnly and SameSite=Strict), so
they reuse the API's ``authorize``: one rule for scopes and rate limits. A form post must also carry the
double-submit CSRF token (a random cookie echoed in a hidden field) and, when the browser sends ``Origin``,
come from this host. SameSite=Strict already stops most cross-site posts; the token and the origin check
cover older browsers and same-site subdomains.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from oppscope.access.interfaces import Principal
from oppscope.access.scopes import Scope
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.web.context import AppContext, authorize
from oppscope.web.errors import ApiError

CSRF_COOKIE = "oppscope_csrf"
CSRF_FIELD = "csrf_token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


class NotSignedInError(OppscopeError):
    """The page needs a session: the route answers with a redirect to ``/login``."""

    default_kind = ErrorKind.unauthorized

    def __init__(self) -> None:
        super().__init__("not_signed_in", "this page needs a signed-in session")


class PageError(ApiError):
    """An error shown as an HTML page with this status and title."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, "page_error", message, headers=headers)
        self.title = title


def page_principal(request: Request, context: AppContext, scope: Scope) -> Principal:
    """The caller, for a page: a missing or stale session sends the browser to the login page."""
    try:
        return authorize(request, context, scope, allow_cookie=True)
    except ApiError as exc:
        if exc.status == 401:
            raise NotSignedInError from None
        raise


def csrf_token(request: Request) -> str:
    """This browser's CSRF token: its cookie when it has a well-formed one, otherwise a new one."""
    token: str | None = getattr(request.state, "csrf_token", None)
    if token is None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = cookie if _TOKEN.match(cookie) else secrets.token_urlsafe(32)
        request.state.csrf_token = token
    return token


def set_csrf_cookie(request: Request, response: Response, context: AppContext) -> None:
    """Send the token as a cookie unless the browser already holds exactly this one."""
    token = csrf_token(request)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=context.settings.secure_cookies, path="/"
        )


def renew_csrf(request: Request) -> None:
    """A new token at login, so a token planted before it is worth nothing after."""
    request.state.csrf_token = secrets.token_urlsafe(32)


async def checked_form(request: Request) -> FormData:
    """The posted form, once its origin and CSRF token are verified; anything else is a 403 page."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise PageError(403, "Request refused", "This form was posted from another site.")
    form = await request.form()
    sent, cookie = form.get(CSRF_FIELD), request.cookies.get(CSRF_COOKIE)
    if not (isinstance(sent, str) and cookie and hmac.compare_digest(sent.encode(), cookie.encode())):
        raise PageError(
            403, "Form expired", "The form's security token did not match. Reload the page and submit it again."
        )
    return form


def safe_next(target: str | None) -> str:
    """Only a path on this site (other than the login page) is a place to return to; anything else goes home."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path == "/login" or any(ord(c) < 0x20 for c in target):
        return "/"
    return target
