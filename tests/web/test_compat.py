"""``POST /api/analyze`` as the original system's clients use it, against a real server and its history.

The report checks use the regular expressions those clients run (from the research on the original
contract), in Python here and, through ``original_client.mjs``, in Node as the pages themselves would.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from oppscope.analyses.store import SavedAnalysis
from oppscope.analysis.contracts import Analysis
from oppscope.analysis.narrative import UNKNOWN
from oppscope.config import load_settings
from oppscope.history.factory import open_history_store
from oppscope.web.app import create_app
from oppscope.web.compat.analogs import AnalogQuery
from oppscope.web.compat.report import build_report, flat, service_name
from oppscope.web.compat.request import OriginalHeaders, OriginalRequest, js_parse_int
from oppscope.web.compat.response import analyze_body
from tests.examples import OPPORTUNITY
from tests.web.conftest import SAMPLE_ROWS, WebSettings, create_token, migrate, serving

ORIGINAL: dict[str, Any] = {
    "CustomerName": OPPORTUNITY["customer_name"],
    "region": OPPORTUNITY["region"],
    "closeDate": OPPORTUNITY["close_date"],
    "oppName": OPPORTUNITY["opportunity_name"],
    "oppDescription": OPPORTUNITY["description"],
    "industry": OPPORTUNITY["industry"],
    "customerSegment": "",
    "partnerName": "",
    "useNovaPremier": False,
    "useBedrockAgent": False,
}
HEADERS = [
    "ANALYSIS METHODOLOGY",
    "SIMILAR PROJECTS",
    "DETAILED FINDINGS",
    "PREDICTION RATIONALE",
    "RISK FACTORS",
    "ARCHITECTURE DESCRIPTION",
    "SUMMARY METRICS",
    "VALIDATION_ERRORS",
]
ARCHITECTURE_KEYS = [
    "NETWORK_FOUNDATION",
    "COMPUTE_LAYER",
    "DATA_LAYER",
    "SECURITY_COMPONENTS",
    "INTEGRATION_POINTS",
    "SCALING_ELEMENTS",
    "MANAGEMENT_TOOLS",
    "COMPLETE_ARCHITECTURE",
]
PROJECT_LABELS = [
    "Project Name", "Customer", "Partner", "Industry", "Customer Segment", "Region", "Activity/Focus", "Description",
    "Business Description", "Historical Close Date", "Historical Start Date", "Historical End Date",
    "Actual Gap Time (Days)", "Actual Execution Duration (Months)", "Migration Phase (Historical)", "Salesforce Link",
    "AWS Calculator Link",
]
LEGACY_STRINGS = [
    "methodology", "findings", "rationale", "riskFactors", "similarProjects", "fullAnalysis", "formattedSummaryText",
    "fundingOptions", "followOnOpportunities", "validationErrors",
]
SECTION_KEYS = {
    "similarProjectsRaw", "analysisMethodology", "detailedFindings", "predictionRationale", "riskFactors",
    "architectureDescription", "summaryMetrics", "validationErrors",
}
# The service line as the latest original backend (lines not trimmed) and the main page (no decimals) read it.
SERVICE_LINE = re.compile(r"^([^|]+)\|\$?([\d,.]+)/month\|\$?([\d,.]+) upfront$")
PAGE_SERVICE_LINE = re.compile(r"^([^|]+)\|\$?([\d,]+)/month\|\$?([\d,]+) upfront$")
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
HARNESS = Path(__file__).with_name("original_client.mjs")


def _analyze(client: httpx.Client, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
    return client.post("/api/analyze", json=ORIGINAL if body is None else body, headers=headers)


@pytest.fixture(scope="module")
def answer(module_server: str) -> dict[str, Any]:
    with httpx.Client(base_url=module_server, timeout=120) as http:
        response = _analyze(http, {**ORIGINAL, "sessionId": "session-1"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def saved(module_server: str, answer: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=module_server, timeout=60) as http:
        response = http.get(answer["links"]["self"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def _amount(text: str) -> int:
    match = re.fullmatch(r"\$([\d,]+)(?:/month| upfront)?", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def _section(full: str, name: str) -> str:
    """The main page's extraction: the header, a newline, then everything up to the next ``\\n===``."""
    pattern = name.replace(" ", r"[_\s]")
    match = re.search(rf"==={pattern}===\s*\n([\s\S]*?)(?=\n===|$)", full, re.IGNORECASE)
    assert match, name
    return match.group(1).strip()


# -- shape -------------------------------------------------------------------------------------------


def test_every_field_is_present_camel_case_and_never_null(answer: dict[str, Any]) -> None:
    for path, value in _walk(answer):
        assert value is not None, path
        if isinstance(value, dict):
            assert all(CAMEL.match(key) for key in value), path
    for key in LEGACY_STRINGS:
        assert isinstance(answer[key], str) and answer[key], key
    assert answer["fullAnalysis"] == answer["formattedSummaryText"] == answer["debug"]["fullResponse"]
    assert set(answer["sections"]) >= SECTION_KEYS
    assert all(isinstance(v, str) and v for v in answer["sections"].values())
    assert answer["fallbackMode"] is False
    assert answer["sessionId"] == "session-1"
    assert answer["version"] == answer["versions"]["contract"] == "1.0"
    assert answer["versions"]["oppscope"] and answer["versions"]["engine"]
    assert answer["links"]["self"] == f"/api/v1/analyses/{answer['analysisId']}"
    assert answer["links"]["page"] == f"/analyses/{answer['analysisId']}"
    debug = answer["debug"]
    for key in ("sqlQuery", "queryResults", "bedrockPayload", "fallbackReason", "truncationReason"):
        assert isinstance(debug[key], str), key
    assert debug["sqlGenerationLogs"] == [] and debug["analysisGenerationLogs"] == []
    assert isinstance(debug["queryRowCount"], int)
    assert isinstance(answer["query"]["rowLimit"], int) and answer["query"]["logs"] == []


def test_metrics_are_the_saved_analysis_numbers(answer: dict[str, Any], saved: dict[str, Any]) -> None:
    m, p = answer["metrics"], saved["predictions"]
    assert abs(_amount(m["predictedArr"]) - p["arr"]["value"]) <= 0.5
    assert abs(_amount(m["predictedMrr"]) - p["mrr"]["value"]) <= 0.5
    assert m["launchDate"] == p["launch_date"]
    assert m["predictedProjectDuration"] == saved["sections"]["summary_metrics"]["PREDICTED_PROJECT_DURATION"]
    assert re.fullmatch(r"\d+ months", m["predictedProjectDuration"])
    assert re.fullmatch(r"\d+", m["timeToLaunch"])
    assert abs(int(m["timeToLaunch"]) - p["time_to_launch_months"]["value"]) <= 0.5
    assert m["confidence"] == saved["confidence"]["level"]
    assert m["confidenceScore"] == saved["confidence"]["score"]
    assert m["confidenceFactors"] == saved["confidence"]["reasons"]
    low, high = m["predictedArrRange"].split("–")
    assert abs(_amount(low) - p["arr"]["low"]) <= 0.5 and abs(_amount(high) - p["arr"]["high"]) <= 0.5
    assert [s["name"] for s in m["topServices"]] == [s["name"] for s in saved["top_services"]]
    for shown, service in zip(m["topServices"], saved["top_services"], strict=True):
        assert shown["monthlyCost"].endswith("/month") and shown["upfrontCost"].endswith(" upfront")
        assert abs(_amount(shown["monthlyCost"]) - service["monthly_usd"]) <= 0.5
        assert abs(_amount(shown["upfrontCost"]) - service["upfront_usd"]) <= 0.5
    ids = [s["opportunityId"] for s in answer["similarProjectsList"]]
    assert ids == [s["opportunity_id"] for s in saved["similar_projects"]]
    assert [f["program"] for f in answer["funding"]] == [f["program"] for f in saved["funding"]]


def test_the_lambda_envelope_carries_the_same_figures(answer: dict[str, Any], saved: dict[str, Any]) -> None:
    """``success`` and ``data`` in the types the original's API contract and its contract suite give them."""
    assert answer["success"] is True
    data, m = answer["data"], answer["metrics"]
    assert (data["predictedArr"], data["predictedMrr"], data["launchDate"], data["confidence"]) == (
        m["predictedArr"], m["predictedMrr"], m["launchDate"], m["confidence"])
    assert isinstance(data["timeToLaunch"], float)
    assert abs(data["timeToLaunch"] - saved["predictions"]["time_to_launch_months"]["value"]) <= 0.05
    lines = data["topServices"].split(", ")
    assert [re.sub(r"\|.*", "", line) for line in lines] == [s["name"] for s in m["topServices"]]
    assert all(SERVICE_LINE.match(line) for line in lines)
    projects = data["similarProjects"]
    assert [p["projectName"] for p in projects] == [flat(p["opportunity_name"]) for p in saved["similar_projects"]]
    assert all(p["totalARR"].startswith("$") and SERVICE_LINE.match(p["topServices"].split(", ")[0]) for p in projects)
    assert data["analysisMethodology"] == answer["methodology"] and data["riskFactors"] == answer["riskFactors"]
    assert data["detailedFindings"] == answer["findings"] and data["predictionRationale"] == answer["rationale"]
    assert data["generatedSql"] == answer["query"]["sql"] and data["queryResults"] == answer["debug"]["queryResults"]


def test_follow_ups_and_errors_say_success(client: httpx.Client) -> None:
    for path in ("/api/analyze/funding", "/api/analyze/next-opportunity"):
        assert client.post(path, json=ORIGINAL).json()["success"] is True
    error = _analyze(client, {}).json()
    assert error["success"] is False and error["error"]["timestamp"].endswith("Z")


HOSTILE = ["<script>alert('XSS')</script>", "javascript:alert('XSS')", "<img src=x onerror=alert('XSS')>"]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_answer_carries_markup_or_script(client: httpx.Client, text: str) -> None:
    body = {**ORIGINAL, "CustomerName": text, "oppName": text, "oppDescription": text, "industry": text}
    for path in ("/api/analyze/funding", "/api/analyze/next-opportunity", "/api/analyze"):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text[:300]
        raw = response.text
        assert "<" not in raw and ">" not in raw and "\\u003c" not in raw.lower()
        assert not re.search(r"javascript\s*:|\bon[a-z]+\s*=", raw, re.IGNORECASE)
    # The text itself is kept, readable: only the characters that would make it markup are look-alikes.
    assert response.json()["input"]["customerName"] == text.replace("<", "‹").replace(">", "›").replace(
        "javascript:", "javascript：").replace("onerror=", "onerror＝")


@pytest.mark.parametrize(
    "name",
    ["'; DROP TABLE users; --", "1' OR '1'='1", "admin'--", "' UNION SELECT * FROM information_schema.tables --"],
)
def test_names_that_read_as_sql_injection_are_refused(client: httpx.Client, name: str) -> None:
    body = _assert_error(_analyze(client, {**ORIGINAL, "CustomerName": name}), 400, "invalid_input")
    assert body["validationErrors"] == [
        {"field": "CustomerName", "message": "looks like an SQL fragment, not a name", "type": "format"}
    ]


def test_names_with_apostrophes_are_names(client: httpx.Client) -> None:
    for name in ("O'Reilly Media", "Toys 'R' Us", "L'Oréal", "Rock 'n' Roll Records"):
        assert _analyze(client, {**ORIGINAL, "CustomerName": name}).status_code == 200, name
    # SQL in a description is prose about SQL, and it is only ever text.
    assert _analyze(client, {**ORIGINAL, "oppDescription": "'; DROP TABLE parquet; --"}).status_code == 200


SENSITIVE = {
    **ORIGINAL,
    "CustomerName": "ACME Corp (SSN: 123-45-6789)",
    "oppName": "Credit Card Processing (4111-1111-1111-1111)",
    "oppDescription": "API Key: sk-1234567890abcdef, Password: admin123, Email: user@example.com, "
    "AWS key AKIAIOSFODNN7EXAMPLE, Authorization: Bearer abcdefghij123",
}
# The patterns the original's security suite looks for in an answer, and two more shapes.
LEAKS = [r"\d{3}-\d{2}-\d{4}", r"\d{4}-\d{4}-\d{4}-\d{4}", r"sk-[a-zA-Z0-9]+", r"(?i)password:\s*\w+",
         r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}", r"AKIA[A-Z0-9]{16}", r"abcdefghij123"]


def test_secrets_and_identifiers_are_masked_before_anything_keeps_them(client: httpx.Client) -> None:
    response = _analyze(client, SENSITIVE)
    assert response.status_code == 200, response.text[:300]
    kept = client.get(response.json()["links"]["self"]).text  # as saved, so as exported and rerun
    for text in (response.text, kept):
        assert not [leak for leak in LEAKS if re.search(leak, text)]
    assert response.json()["input"]["customerName"] == "ACME Corp (SSN: [SSN])"
    assert "Password: [secret]" in response.json()["input"]["description"]
    # The follow-ups find the analysis again: its input is compared as the service keeps it, masked.
    again = {**SENSITIVE, "analysisResults": {"analysisId": response.json()["analysisId"]}}
    assert client.post("/api/analyze/funding", json=again).json()["analysisId"] == response.json()["analysisId"]


def test_masking_can_be_turned_off(web_settings: WebSettings) -> None:
    with serving(create_app(web_settings(mask_free_text=False))) as url, httpx.Client(base_url=url, timeout=60) as http:
        answer = _analyze(http, SENSITIVE).json()
    assert answer["input"]["customerName"] == SENSITIVE["CustomerName"]


def _preflight(http: httpx.Client, path: str) -> httpx.Response:
    return http.options(path, headers={"Origin": "https://crm.example", "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type,x-sql-query-limit"})


def test_cors_is_open_for_the_original_routes_in_development(client: httpx.Client) -> None:
    preflight = _preflight(client, "/api/analyze")
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-sql-query-limit" in preflight.headers["access-control-allow-headers"].lower()
    simple = client.post("/api/analyze", json=ORIGINAL, headers={"Origin": "https://crm.example"})
    assert simple.headers["access-control-allow-origin"] == "*"
    # Without an Origin (a script, not a browser) the answer is Express' cors(): any OPTIONS is a 204.
    bare = client.options("/api/analyze")
    assert bare.status_code == 204 and bare.headers["access-control-allow-origin"] == "*"
    assert "X-Analysis-Timeout" in bare.headers["access-control-allow-headers"]
    assert client.get("/api/health").headers["access-control-allow-origin"] == "*"
    # The JSON API and the pages stay same-origin.
    assert "access-control-allow-origin" not in _preflight(client, "/api/v1/analyses").headers
    assert "access-control-allow-origin" not in client.get("/", headers={"Origin": "https://crm.example"}).headers


def test_cors_is_closed_in_production_unless_listed(web_settings: WebSettings) -> None:
    closed = web_settings(profile="staging")
    assert closed.cors_allow_origins == [] and web_settings(profile="production").cors_allow_origins == []
    listed = web_settings(profile="staging", cors_allow_origins=["https://crm.example"])
    for settings, allowed in ((closed, None), (listed, "https://crm.example")):
        with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
            assert _preflight(http, "/api/analyze").headers.get("access-control-allow-origin") == allowed
            assert "access-control-allow-origin" not in http.options("/api/analyze").headers


# -- the report --------------------------------------------------------------------------------------


def assert_original_report(answer: dict[str, Any]) -> None:
    """Every rule the original's parsers impose on ``fullAnalysis``."""
    full = answer["fullAnalysis"]
    assert re.findall(r"^===([A-Z_ ]+)===$", full, re.MULTILINE) == HEADERS
    assert full.count("===") == 2 * len(HEADERS)  # nothing inside a body looks like a header
    assert "\r" not in full and not re.search(r"[ \t]$", full, re.MULTILINE)
    bodies = {h: _section(full, h) for h in HEADERS}
    assert all(bodies.values())
    assert bodies["ANALYSIS METHODOLOGY"] == answer["methodology"] == answer["sections"]["analysisMethodology"]
    assert bodies["DETAILED FINDINGS"] == answer["findings"]
    assert bodies["PREDICTION RATIONALE"] == answer["rationale"]
    assert bodies["RISK FACTORS"] == answer["riskFactors"]
    assert bodies["SIMILAR PROJECTS"] == answer["similarProjects"] == answer["sections"]["similarProjectsRaw"]
    assert bodies["VALIDATION_ERRORS"] == answer["validationErrors"]
    # Each `|` is part of a service line; and no `MRR:` after the summary's own.
    for line in full.splitlines():
        if "|" in line:
            assert SERVICE_LINE.match(re.sub(r"^(o )?(OTHER_SERVICES: )?", "", line)), line
    assert "MRR:" not in full[full.index("===VALIDATION_ERRORS===") :]
    _assert_summary(answer, bodies["SUMMARY METRICS"])
    _assert_architecture(answer, bodies["ARCHITECTURE DESCRIPTION"])
    _assert_projects(answer, bodies["SIMILAR PROJECTS"])


def _assert_summary(answer: dict[str, Any], summary: str) -> None:
    m = answer["metrics"]
    lines = summary.splitlines()
    assert lines[:5] == [
        f"PREDICTED_ARR: {m['predictedArr']}",
        f"MRR: {m['predictedMrr']}",
        f"LAUNCH_DATE: {m['launchDate'] or 'N/A'}",
        f"PREDICTED_PROJECT_DURATION: {m['predictedProjectDuration'] or 'N/A'}",
        "TOP_SERVICES:",
    ]
    assert lines[-2:] == [f"CONFIDENCE: {m['confidence']}", f"CONFIDENCE_SCORE: {m['confidenceScore']}"]
    assert len(re.findall(r"MRR:", summary)) == 1
    block = re.search(r"TOP_SERVICES:\s*([\s\S]*?)(?=OTHER_SERVICES|CONFIDENCE|===|$)", summary, re.IGNORECASE)
    assert block
    services = [line for line in block.group(1).split("\n") if line]
    named = [s for s in m["topServices"] if s["name"] != "Other services"]
    assert len(services) == len(named)
    for line, service in zip(services, named, strict=True):
        assert SERVICE_LINE.match(line) and PAGE_SERVICE_LINE.match(line.strip()), line
        assert line == f"{service_name(service['name'])}|{service['monthlyCost']}|{service['upfrontCost']}"
    other = [s for s in m["topServices"] if s["name"] == "Other services"]
    expected = [f"OTHER_SERVICES: Combined|{s['monthlyCost']}|{s['upfrontCost']}" for s in other]
    assert [line for line in lines if line.startswith("OTHER_SERVICES")] == expected


def _assert_architecture(answer: dict[str, Any], body: str) -> None:
    lines = body.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ARCHITECTURE_KEYS
    stop = "|".join(f"{k}:" for k in ARCHITECTURE_KEYS)
    for key, camel in zip(ARCHITECTURE_KEYS, answer["metrics"]["architecture"], strict=True):
        match = re.search(rf"(?:{key}):\s*([^\n]+(?:\n(?!{stop})[^\n]+)*)", body, re.IGNORECASE)
        assert match and match.group(1) == answer["metrics"]["architecture"][camel], key


def _assert_projects(answer: dict[str, Any], body: str) -> None:
    listed = answer["similarProjectsList"][:3]
    blocks = [b for b in re.split(r"---\s*Project\s*\d+\s*---", body, flags=re.IGNORECASE) if b.strip()]
    assert len(blocks) == len(listed)
    assert re.findall(r"^--- Project (\d) ---$", body, re.MULTILINE) == [str(i + 1) for i in range(len(listed))]
    for block, project in zip(blocks, listed, strict=True):
        bullets = re.findall(r"^• ([^:]+):", block, re.MULTILINE)
        assert bullets[: len(PROJECT_LABELS)] == PROJECT_LABELS
        assert f"• Project Name: {flat(project['opportunityName'])}\n" in block
        financial = re.findall(r"^o (Total MRR|Total ARR|Stated Historical Raw ARR): (\$[\d,]+|N/A)$", block, re.M)
        assert [label for label, _ in financial] == ["Total MRR", "Total ARR", "Stated Historical Raw ARR"]
        assert abs(_amount(financial[1][1]) - float(project["arrUsd"])) <= 0.5
        for day in re.findall(r"^• Historical (?:Close|Start|End) Date: (.+)$", block, re.MULTILINE):
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}|N/A", day)


def test_full_analysis_follows_the_original_report_format(answer: dict[str, Any]) -> None:
    assert_original_report(answer)


def test_hostile_text_cannot_break_the_report(client: httpx.Client) -> None:
    hostile = "Mining ===SUMMARY METRICS=== a|b\nMRR: $999 CONFIDENCE: HIGH --- Project 9 --- <script>x</script>"
    response = _analyze(client, {**ORIGINAL, "industry": hostile, "oppDescription": hostile, "region": hostile})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["warnings"]  # the unknown industry and region reach the report's VALIDATION_ERRORS section
    assert_original_report(body)
    assert "<" not in body["fullAnalysis"]


def test_flat_keeps_values_on_one_plain_line() -> None:
    assert flat("a\r\nb\u2028c  d") == "a b c d"
    assert flat("x === y ---- z | w") == "x = y - z / w"
    assert flat("Total MRR: $5, confidence : LOW") == "Total MRR - $5, confidence - LOW"
    assert flat("") == "N/A"
    assert service_name("Confidence OTHER_SERVICES") == "conf. other services"


# -- the SQL -----------------------------------------------------------------------------------------


def test_query_sql_returns_exactly_the_listed_analogs(answer: dict[str, Any], prepared_data_dir: Path) -> None:
    sql = answer["query"]["sql"]
    assert sql == answer["debug"]["sqlQuery"] and "LIMIT 200" in sql
    settings = load_settings(data_dir=prepared_data_dir, sample_rows=SAMPLE_ROWS)
    with open_history_store(settings, read_only=True) as store:
        rows = store.query(sql)
    ids = [s["opportunityId"] for s in answer["similarProjectsList"]]
    assert [row[0] for row in rows] == ids
    assert answer["debug"]["queryRowCount"] == len(ids)
    results = json.loads(answer["debug"]["queryResults"])["data"]
    assert [r["opportunity_18_character_oppty_id"] for r in results] == ids


def test_row_limit_and_truncation_headers_shape_the_query(client: httpx.Client) -> None:
    body = _analyze(client, **{"X-SQL-Query-Limit": "5", "X-Truncation-Limit": "100"}).json()
    assert body["query"]["sql"].endswith("LIMIT 5")
    assert body["debug"]["queryRowCount"] == 5
    assert len(body["debug"]["queryResults"]) == 100
    assert body["debug"]["truncated"] is True and body["debug"]["truncationReason"]
    whole = _analyze(client, **{"X-Truncation-Limit": "100", "X-Enable-Truncation": "false"}).json()
    assert whole["debug"]["truncated"] is False
    assert json.loads(whole["debug"]["queryResults"])["data"]


# -- the request -------------------------------------------------------------------------------------


def test_lower_case_aliases_and_first_truthy_value(client: httpx.Client) -> None:
    body = {
        "CustomerName": "",
        "customerName": "Alias Corp",
        "region": "Germany",
        "closeDate": "2025-03-31",
        "opportunityName": "Alias migration",
        "description": "Move the alias workloads to AWS.",
    }
    response = _analyze(client, body)
    assert response.status_code == 200, response.text
    given = response.json()["input"]
    assert (given["customerName"], given["opportunityName"]) == ("Alias Corp", "Alias migration")
    assert given["description"] == "Move the alias workloads to AWS."


def test_unknown_keys_and_original_flags_are_ignored(client: httpx.Client) -> None:
    extras = {
        "useNovaPremier": True,
        "useBedrockAgent": True,
        "forceRefresh": True,
        "analysisType": "nova-premier",
        "timestamp": "2025-01-01T00:00:00.000Z",
        "somethingNew": {"nested": [1, None]},
    }
    response = _analyze(client, {**ORIGINAL, **extras})
    assert response.status_code == 200, response.text
    assert set(extras) <= set(response.json()["debug"]["unusedFields"])


@pytest.mark.parametrize(
    "close_date", ["2025-03-31", "3/31/2025", "03/31/2025", "2025-03-31T10:00:00.000Z", 1743415200, 1743415200000]
)
def test_close_date_forms(client: httpx.Client, close_date: str | int) -> None:
    response = _analyze(client, {**ORIGINAL, "closeDate": close_date})
    assert response.status_code == 200, response.text
    assert response.json()["input"]["closeDate"] == "2025-03-31"


def test_empty_optional_fields_are_absent(client: httpx.Client, answer: dict[str, Any], saved: dict[str, Any]) -> None:
    assert saved["input"]["customer_segment"] is None and saved["input"]["partner_name"] is None
    assert answer["input"]["customerSegment"] == ""


@pytest.mark.parametrize(
    ("text", "value"),
    [("200", 200), (" 25abc", 25), ("0x1A", 26), ("-7", -7), ("+3", 3), ("abc", None), ("", None), (None, None)],
)
def test_js_parse_int(text: str | None, value: int | None) -> None:
    assert js_parse_int(text) == value


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, (200, 400_000, True, 180)),
        (
            {"X-SQL-Query-Limit": "25abc", "X-Truncation-Limit": "0", "X-Enable-Truncation": "False",
             "X-Analysis-Timeout": "abc"},
            (25, 400_000, True, 180),
        ),
        (
            {"X-SQL-Query-Limit": "-5", "X-Truncation-Limit": "0x40", "X-Enable-Truncation": "false",
             "X-Analysis-Timeout": "30s"},
            (200, 64, False, 30),
        ),
    ],
)
def test_headers_are_read_leniently(
    client: httpx.Client, headers: dict[str, str], expected: tuple[int, int, bool, int]
) -> None:
    response = _analyze(client, **headers)
    assert response.status_code == 200, response.text
    query = response.json()["query"]
    used = (query["rowLimit"], query["truncationLimit"], query["enableTruncation"], query["analysisTimeout"])
    assert used == expected
    sent = response.json()["debug"]["requestHeaders"]
    assert sent["sqlQueryLimit"] == headers.get("X-SQL-Query-Limit", "")


@pytest.mark.parametrize("name", ["X-SQL-Query-Limit", "X-Truncation-Limit", "X-Analysis-Timeout"])
def test_a_header_number_past_pythons_digit_limit_is_capped_not_a_500(client: httpx.Client, name: str) -> None:
    response = _analyze(client, **{name: "9" * 4_301})
    assert response.status_code == 200, response.text[:300]
    query = response.json()["query"]
    used = {"X-SQL-Query-Limit": "rowLimit", "X-Truncation-Limit": "truncationLimit", "X-Analysis-Timeout":
            "analysisTimeout"}[name]
    assert query[used] == {"rowLimit": 100_000, "truncationLimit": 100_000_000, "analysisTimeout": 3_600}[used]


def test_js_parse_int_caps_huge_numbers_in_both_bases() -> None:
    assert js_parse_int("9" * 5_000) == js_parse_int("0x" + "f" * 5_000) == 10**18
    assert js_parse_int("-" + "9" * 5_000) == -(10**18)
    assert js_parse_int("0" * 5_000 + "12") == 12


# -- errors ------------------------------------------------------------------------------------------


def test_a_chunked_body_over_the_limit_is_a_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"CustomerName": "'
        for _ in range(80):
            yield b"x" * 1_024
        yield b'"}'

    response = client.post("/api/analyze", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    _assert_error(response, 413, "payload_too_large")


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["message"], str) and body["message"] == body["error"]["message"]
    assert "Traceback" not in response.text
    return body


def test_missing_fields_are_a_400_naming_the_original_keys(client: httpx.Client) -> None:
    body = _assert_error(_analyze(client, {"useNovaPremier": True}), 400, "invalid_input")
    fields = {e["field"] for e in body["validationErrors"]}
    assert fields == {"CustomerName", "region", "closeDate", "oppName", "oppDescription"}
    assert {e["type"] for e in body["validationErrors"]} == {"required"}
    assert body["error"]["details"]["errors"]


def test_invalid_values_are_a_400_on_the_key_sent(client: httpx.Client) -> None:
    sent = {**ORIGINAL, "CustomerName": "", "customerName": "  ", "closeDate": "2025-13-45", "industry": 7}
    body = _assert_error(_analyze(client, sent), 400, "invalid_input")
    errors = {e["field"]: e["type"] for e in body["validationErrors"]}
    # `"" || "  "` is the blank alias, as in the original, so the error names the key that held it.
    assert errors == {"customerName": "required", "closeDate": "format", "industry": "format"}


@pytest.mark.parametrize(("content", "code"), [(b"{not json", "invalid_json"), (b"[1, 2]", "invalid_input")])
def test_a_body_that_is_not_a_json_object_is_a_400(client: httpx.Client, content: bytes, code: str) -> None:
    response = client.post("/api/analyze", content=content, headers={"Content-Type": "application/json"})
    body = _assert_error(response, 400, code)
    assert isinstance(body["validationErrors"], list)


def test_no_history_is_a_503(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "empty", load_sample_if_empty=False)
    migrate(settings)
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        response = _analyze(http)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] and response.json()["message"]
    assert response.headers["retry-after"]


@dataclass
class Patchable:
    http: httpx.Client
    service: Any


@pytest.fixture
def patchable(web_settings: WebSettings) -> Iterator[Patchable]:
    """A server of its own whose analysis service a test may replace while it runs."""
    app = create_app(web_settings())
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Patchable(http, app.state.context.service)


def test_the_analysis_timeout_header_is_a_deadline(patchable: Patchable, monkeypatch: pytest.MonkeyPatch) -> None:
    real = patchable.service.create

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(2.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(patchable.service, "create", slow)
    started = time.monotonic()
    response = _analyze(patchable.http, **{"X-Analysis-Timeout": "1"})
    assert time.monotonic() - started < 2.0
    body = _assert_error(response, 504, "analysis_timeout")
    assert body["error"]["details"]["timeout_seconds"] == 1


def test_an_unexpected_failure_is_a_500_with_a_message(
    patchable: Patchable, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(patchable.service, "create", broken)
    response = _analyze(patchable.http)
    _assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.text


def test_authentication_answers_carry_a_message(web_settings: WebSettings) -> None:
    settings = web_settings(profile="staging")
    reader, writer = create_token(settings, "read"), create_token(settings, "write")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        _assert_error(_analyze(http), 401, "unauthorized")
        _assert_error(_analyze(http, Authorization=f"Bearer {reader}"), 403, "insufficient_scope")
        # Authorisation comes first: an anonymous caller learns nothing about the body.
        _assert_error(_analyze(http, {}), 401, "unauthorized")
        assert _analyze(http, Authorization=f"Bearer {writer}").status_code == 200


# -- follow-up endpoints ----------------------------------------------------------------------------


def test_funding_and_next_opportunity_reuse_the_analysis(client: httpx.Client, answer: dict[str, Any]) -> None:
    request = {**ORIGINAL, "analysisResults": {"analysisId": answer["analysisId"]}, "timestamp": "now"}
    funding = client.post("/api/analyze/funding", json=request).json()
    assert funding["analysisId"] == answer["analysisId"]
    assert funding["fundingOptions"] == answer["fundingOptions"] and funding["funding"] == answer["funding"]
    following = client.post("/api/analyze/next-opportunity", json=request).json()
    assert following["analysisId"] == answer["analysisId"]
    assert following["followOnOpportunities"] == answer["followOnOpportunities"]
    assert following["followOn"] == answer["followOn"]
    for body in (funding, following):
        assert all(value is not None for _, value in _walk(body))


def test_follow_ups_analyse_anew_without_a_matching_analysis(client: httpx.Client, answer: dict[str, Any]) -> None:
    changed = {**ORIGINAL, "oppName": "Another name", "analysisResults": {"analysisId": answer["analysisId"]}}
    response = client.post("/api/analyze/funding", json=changed)
    assert response.status_code == 200, response.text
    assert response.json()["analysisId"] != answer["analysisId"]
    _assert_error(client.post("/api/analyze/next-opportunity", json={}), 400, "invalid_input")


# -- the original's page logic, in Node ----------------------------------------------------------------


def _original_page(answer: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """What ``original_client.mjs`` (the original pages' parsing, in Node) extracts from ``answer``."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: `make test` installs Debian's nodejs package for this check")
    answer_file = tmp_path / "answer.json"
    answer_file.write_text(json.dumps(answer), encoding="utf-8")
    run = subprocess.run([node, str(HARNESS), str(answer_file)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen: dict[str, Any] = json.loads(run.stdout)
    return seen


def test_the_original_page_logic_reads_the_answer(answer: dict[str, Any], tmp_path: Path) -> None:
    seen = _original_page(answer, tmp_path)
    m = answer["metrics"]
    assert seen["metrics"]["arr"] == m["predictedArr"] and seen["metrics"]["mrr"] == m["predictedMrr"]
    assert seen["metrics"]["arrAmount"] == _amount(m["predictedArr"])
    assert seen["metrics"]["timeToLaunch"] == m["timeToLaunch"]
    assert seen["metrics"]["compactDuration"] == m["predictedProjectDuration"].split()[0]
    assert seen["metrics"]["launchDate"] and seen["metrics"]["launchDate"] != "Invalid Date"
    assert seen["metrics"]["confidence"] == f"{m['confidenceScore']}%"
    assert len(seen["metrics"]["factors"]) == len(m["confidenceFactors"])
    assert [s["name"] for s in seen["metrics"]["services"]] == [s["name"] for s in m["topServices"]]
    assert seen["methodologyMissing"] is False
    assert seen["sections"]["methodology"] == answer["methodology"]
    assert seen["sections"]["similarProjects"] == answer["similarProjects"]
    assert seen["sections"]["architecture"] == answer["sections"]["architectureDescription"]
    assert all(seen["inOrder"].values())
    summary = seen["summary"]
    assert "$" + summary["arr"] == m["predictedArr"] and "$" + summary["mrr"] == m["predictedMrr"]
    assert (summary["launchDate"], summary["duration"]) == (m["launchDate"], m["predictedProjectDuration"])
    assert summary["confidence"] == summary["confidenceRaw"] == m["confidence"]
    assert summary["servicesBlocksAgree"] is True
    named = [s["name"] for s in m["topServices"] if s["name"] != "Other services"]
    assert [s["name"] for s in summary["services"]] == named
    assert list(seen["architecture"].values()) == list(m["architecture"].values())
    projects = seen["projects"]["enhanced"]
    assert [p["name"] for p in projects] == [flat(p["opportunityName"]) for p in answer["similarProjectsList"][:3]]
    assert len(seen["projects"]["legacy"]) == len(projects)
    assert seen["react"]["summaryMetrics"] == answer["sections"]["summaryMetrics"]
    assert seen["debug"]["hasLimit"] is True and seen["debug"]["rowCount"] == answer["debug"]["queryRowCount"]


def test_unknown_timing_and_missing_rows_are_written_as_the_original_accepts(
    saved: dict[str, Any], tmp_path: Path
) -> None:
    """A history without planned dates (no launch date, no duration) and an analog query that failed."""
    data = json.loads(json.dumps(saved))
    data["predictions"].update(time_to_launch_months=None, project_duration_months=None, launch_date=None)
    # as the engine writes a summary without timing
    data["sections"]["summary_metrics"].update(
        LAUNCH_DATE=UNKNOWN, PREDICTED_PROJECT_DURATION=UNKNOWN, TIME_TO_LAUNCH=UNKNOWN
    )
    analysis = Analysis.model_validate(data)
    record = SavedAnalysis("x1", "2025-01-01T00:00:00Z", "t", None, json.dumps(data))
    request = OriginalRequest(opportunity=analysis.input, session_id="", analysis_id="", unused_keys=[])
    query = AnalogQuery("SELECT 1", [], "the history is locked")
    body = analyze_body(record, analysis, build_report(analysis, {}), request, OriginalHeaders.read({}), query)
    # The one number without a text form: the Lambda envelope's months, null when the history has no timing.
    assert [path for path, value in _walk(body) if value is None] == ["$.data.timeToLaunch"]
    m = body["metrics"]
    assert (m["launchDate"], m["timeToLaunch"], m["predictedProjectDuration"]) == ("", "", "")
    assert "LAUNCH_DATE: N/A\nPREDICTED_PROJECT_DURATION: N/A\n" in body["fullAnalysis"]
    assert "• Description: N/A\n" in body["similarProjects"] and "o N/A" in body["similarProjects"]
    assert body["debug"]["analysisGenerationLogs"] == ["history query failed: the history is locked"]
    assert_original_report(body)
    seen = _original_page(body, tmp_path)
    assert seen["metrics"]["timeToLaunch"] == "" and seen["metrics"]["launchDate"] == ""
    assert seen["summary"]["launchDate"] is None and seen["summary"]["launchDateRaw"] == "N/A"
    assert seen["summary"]["duration"] is None and seen["summary"]["arr"]
