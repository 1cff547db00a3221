"""Where things live: the URLs of a saved analysis, built in one place so views link to each other without
importing each other (the API, the pages and the original's endpoint all answer with these)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

API_PREFIX = "/api/v1"


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
    md = "md"
    html = "html"


def analysis_api(analysis_id: str) -> str:
    return f"{API_PREFIX}/analyses/{analysis_id}"


def analysis_page(analysis_id: str) -> str:
    return f"/analyses/{analysis_id}"


def links(analysis_id: str) -> dict[str, Any]:
    base = analysis_api(analysis_id)
    return {
        "self": base,
        "page": analysis_page(analysis_id),
        "rerun": f"{base}/rerun",
        "export": {f.value: f"{base}/export?format={f.value}" for f in ExportFormat},
    }
