"""Server-rendered pages (placeholder until the page work lands)."""

from __future__ import annotations

from fastapi import APIRouter

from oppscope.analyses.export import as_markdown
from oppscope.analyses.store import SavedAnalysis

router = APIRouter(include_in_schema=False)


def print_view(saved: SavedAnalysis) -> str:
    import html

    return f"<!doctype html><pre>{html.escape(as_markdown(saved))}</pre>"
