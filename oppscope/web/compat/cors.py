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
from starlette.types import ASGIApp, Receive, Scope, Send

from oppscope.web.compat.request import HEADER_NAMES

# The original's routes: the analysis, its two follow-ups and its health check.
PATHS: Final = ("/api/analyze", "/api/health")


class CompatCorsMiddleware:
    def __init__(self, app: ASGIApp, allow_origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(allow_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Content-Type", "Authorization", *HEADER_NAMES],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if any(path == prefix or path.startswith(f"{prefix}/") for prefix in PATHS):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
