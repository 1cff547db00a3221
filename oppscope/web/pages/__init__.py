"""The server-rendered pages: analyze, result, history, login and operations, plus the printable export.

Every page route uses ``PageRoute`` so its errors are HTML pages; the JSON API keeps its own error shape.
"""

from __future__ import annotations

from fastapi import APIRouter

from oppscope.web.pages import analyze, ops, results, session

router = APIRouter(include_in_schema=False)
for _module in (analyze, results, session, ops):
    router.include_router(_module.router)

__all__ = ["router"]
