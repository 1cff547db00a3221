"""The server-rendered pages: analyze, result, history and login, plus the printable export.

Every page route uses ``PageRoute`` so its errors are HTML pages; the JSON API keeps its own error shape.
"""

from __future__ import annotations

from fastapi import APIRouter

from oppscope.web.pages import analyze, results, session

router = APIRouter(include_in_schema=False)
for _module in (analyze, results, session):
    router.include_router(_module.router)

__all__ = ["router"]
