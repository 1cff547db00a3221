"""CORS for the original-compatible routes only, from the ``cors_allow_origins`` allow-list.

The original served every route through Express' ``cors()``, so its pages and scripts could call it from any
origin. Here that reach is the allow-list's: ``["*"]`` in the development profile, empty (no cross-origin
caller) unless configured in staging and production. The rest of the app (``/api/v1``, the pages) stays
same-origin whatever the list says: its clients are not the original's, and its cookies must not travel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oppscope.web.compat.request import HEADER_NAMES

# The original's routes: the analysis, its two follow-ups and its health check.
PATHS: Final = ("/api/analyze", "/api/health")


METHODS: Final = ("GET", "POST", "OPTIONS")
HEADERS: Final = ("Content-Type", "Authorization", *HEADER_NAMES)


class CompatCorsMiddleware:
    """Starlette's CORS on the original's paths. With ``*`` in the list it also answers as Express' ``cors()``
    did where no ``Origin`` was sent (scripts, not browsers): ``Access-Control-Allow-Origin: *`` on every
    answer and a 204 to any ``OPTIONS``. That grants nothing a browser could use, since browsers always send
    an ``Origin`` across origins, and no credentials are ever allowed."""

    def __init__(self, app: ASGIApp, allow_origins: Sequence[str]) -> None:
        self.app = app
        self.wildcard = "*" in allow_origins
        self.cors = CORSMiddleware(
            app, allow_origins=list(allow_origins), allow_methods=METHODS, allow_headers=HEADERS, max_age=600
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not any(path == prefix or path.startswith(f"{prefix}/") for prefix in PATHS):
            await self.app(scope, receive, send)
        elif self.wildcard and b"origin" not in dict(scope["headers"]):
            await self._as_express(scope, receive, send)
        else:
            await self.cors(scope, receive, send)

    async def _as_express(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            headers = [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", ", ".join(METHODS).encode()),
                (b"access-control-allow-headers", ", ".join(HEADERS).encode()),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"access-control-allow-origin", b"*")]
            await send(message)

        await self.app(scope, receive, with_origin)
