"""Fuzzing the two interfaces schemathesis cannot reach: the original's lenient ``POST /api/analyze`` (not in
the OpenAPI document) and the analyze form's post. Whatever arrives, the answer is a structured 4xx or a
success, never a server error.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oppscope.web.pages.forms import FIELDS
from tests.examples import OPPORTUNITY

ORIGINAL_KEYS = [
    "CustomerName",
    "customerName",
    "region",
    "closeDate",
    "oppName",
    "opportunityName",
    "oppDescription",
    "description",
    "industry",
    "customerSegment",
    "partnerName",
    "activityFocus",
    "businessDescription",
    "migrationPhase",
    "salesforceLink",
    "awsCalculatorLink",
    "analysisResults",
]
HEADERS = ["X-SQL-Query-Limit", "X-Truncation-Limit", "X-Enable-Truncation", "X-Analysis-Timeout"]
VALID = {
    "CustomerName": OPPORTUNITY["customer_name"],
    "region": OPPORTUNITY["region"],
    "closeDate": OPPORTUNITY["close_date"],
    "oppName": OPPORTUNITY["opportunity_name"],
    "oppDescription": OPPORTUNITY["description"],
}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
)
# A valid request with some keys replaced by anything at all, or any JSON value whatsoever.
original_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={key: json_values for key in ORIGINAL_KEYS}).map(lambda b: {**VALID, **b}),
    json_values,
)
header_values = st.text(alphabet=string.printable.strip() + " ", max_size=12).map(str.strip)  # h11 refuses edge spaces
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _assert_structured(response: httpx.Response, ok: set[int]) -> dict[str, Any]:
    assert response.status_code < 500, response.text[:500]
    assert response.status_code in ok, (response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    if response.status_code >= 400:
        assert body["error"]["code"] and body["error"]["message"]
        assert isinstance(body["message"], str)
    return body


@FUZZ
@given(body=original_bodies, headers=st.dictionaries(st.sampled_from(HEADERS), header_values))
def test_the_original_endpoint_never_fails_on_any_request(
    client: httpx.Client, body: Any, headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/analyze", content=json.dumps(body).encode(), headers={"content-type": "application/json", **headers}
    )
    answer = _assert_structured(response, {200, 400})
    if response.status_code == 200:
        assert answer["metrics"]["predictedArr"].startswith("$")
        assert "===SUMMARY METRICS===" in answer["fullAnalysis"]


@FUZZ
@given(content=st.binary(max_size=200))
def test_the_original_endpoint_refuses_bytes_that_are_not_json(client: httpx.Client, content: bytes) -> None:
    try:
        json.loads(content)
    except ValueError:
        response = client.post("/api/analyze", content=content, headers={"content-type": "application/json"})
        expected = "invalid_input" if not content.strip() else "invalid_json"  # nothing sent: every field is missing
        assert _assert_structured(response, {400})["error"]["code"] == expected


form_values = st.text(max_size=60) | st.sampled_from(["", " ", "2025-13-45", "1e308", "<script>", "' OR 1=1 --"])


@FUZZ
@given(fields=st.fixed_dictionaries({}, optional={f.name: form_values for f in FIELDS}))
def test_the_analyze_form_answers_every_post_with_a_page(client: httpx.Client, fields: dict[str, str]) -> None:
    page = client.get("/")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    response = client.post("/analyses", data={**fields, "csrf_token": match.group(1)}, follow_redirects=False)
    assert response.status_code in {303, 422}, (response.status_code, response.text[:300])
    if response.status_code == 422:
        assert response.headers["content-type"].startswith("text/html")
        assert 'aria-invalid="true"' in response.text
