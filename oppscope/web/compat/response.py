"""The original's response shape, filled from a saved analysis, and its error bodies.

The rule every field follows: present on every answer, camelCase, a string or list where the original's
pages call string or array methods on it, and ``""``/``[]`` instead of null (several of those pages throw on
null). Every number is formatted from the analysis with the report's own formatters; nothing is estimated here.
Every string passes through ``inert`` on its way out (``answer``): the original's pages write them with
innerHTML, so neither the user's text nor the history's may be markup there.

Besides the shape of the original Express server, the answer carries the envelope of its Lambda variant and
API contract (``success`` and ``data``: the headline figures and sections in the types that contract and its
test suite give them), so clients of either read what they expect.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Final

from fastapi.responses import JSONResponse
from pydantic.alias_generators import to_camel

from oppscope import __version__
from oppscope.analyses.store import SavedAnalysis
from oppscope.analysis.contracts import Analysis, FollowOnOpportunity, FundingRecommendation
from oppscope.analysis.narrative import money, money_range, months_range
from oppscope.errors import error_body
from oppscope.web.compat.analogs import AnalogQuery
from oppscope.web.compat.report import (
    Report,
    flat,
    inert,
    monthly_cost,
    project_service_lines,
    service_line,
    summary_value,
    upfront_cost,
)
from oppscope.web.compat.request import OriginalHeaders, OriginalRequest, original_errors
from oppscope.web.errors import ApiError
from oppscope.web.links import links

CONTRACT_VERSION: Final = "1.0"


def camel(value: Any) -> Any:
    """Our JSON in the original's spelling: camelCase keys at every depth, and "" where we have None."""
    if isinstance(value, dict):
        return {to_camel(str(key)): camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel(item) for item in value]
    return "" if value is None else value


def answer(body: Any) -> Any:
    """``body`` with every string in it made inert for the original's pages, at any depth."""
    if isinstance(body, str):
        return inert(body)
    if isinstance(body, dict):
        return {key: answer(value) for key, value in body.items()}
    if isinstance(body, list):
        return [answer(item) for item in body]
    return body


def identity(saved: SavedAnalysis, analysis: Analysis, original: OriginalRequest) -> dict[str, Any]:
    """What every answer of these endpoints starts with: versions, the saved analysis and where to find it."""
    return {
        "success": True,  # the Lambda variant's flag, which its clients test before reading anything else
        # A plain string, as a contract version is usually read; the parts behind it are listed beside it.
        "version": CONTRACT_VERSION,
        "versions": {
            "contract": CONTRACT_VERSION,
            "oppscope": __version__,
            "engine": analysis.provenance.engine_version,
        },
        "analysisId": saved.id,
        "links": links(saved.id),
        "timestamp": saved.created_at,
        "sessionId": original.session_id,
        "fallbackMode": False,
    }


def metrics(analysis: Analysis, report: Report) -> dict[str, Any]:
    """The original's metric strings (whole dollars, ``N months``, digits), plus the intervals it never had."""
    p, c = analysis.predictions, analysis.confidence
    ttl, duration = p.time_to_launch_months, p.project_duration_months
    return {
        "predictedArr": money(p.arr.value),
        "predictedMrr": money(p.mrr.value),
        "predictedUpfront": money(p.upfront_usd.value),
        "launchDate": p.launch_date or "",
        "predictedProjectDuration": summary_value(analysis, "PREDICTED_PROJECT_DURATION"),
        "timeToLaunch": f"{ttl.value:.0f}" if ttl else "",
        "confidence": c.level,
        "confidenceScore": c.score,
        "confidenceFactors": list(c.reasons),
        "topServices": [
            {"name": s.name, "monthlyCost": monthly_cost(s.monthly_usd), "upfrontCost": upfront_cost(s.upfront_usd)}
            for s in analysis.top_services
        ],
        "intervalLevel": f"{p.interval_level:.0%}",
        "predictedArrRange": money_range(p.arr.low, p.arr.high),
        "predictedMrrRange": money_range(p.mrr.low, p.mrr.high),
        "predictedUpfrontRange": money_range(p.upfront_usd.low, p.upfront_usd.high),
        "timeToLaunchRange": months_range(ttl.low, ttl.high) if ttl else "",
        "projectDurationRange": months_range(duration.low, duration.high) if duration else "",
        "statedArrMedian": money(p.stated_arr_median) if p.stated_arr_median is not None else "",
        "architecture": {to_camel(key.lower()): value for key, value in report.architecture_fields.items()},
    }


def funding_fields(analysis: Analysis) -> dict[str, Any]:
    """The original's funding text, and the programs as a list."""
    return {
        "fundingOptions": _funding_text(analysis.funding),
        "funding": camel([f.model_dump(mode="json") for f in analysis.funding]),
    }


def follow_on_fields(analysis: Analysis) -> dict[str, Any]:
    """The original's follow-on text, and the follow-on opportunities as a list."""
    return {
        "followOnOpportunities": _follow_on_text(analysis.follow_on),
        "followOn": camel([f.model_dump(mode="json") for f in analysis.follow_on]),
    }


def _funding_text(funding: list[FundingRecommendation]) -> str:
    if not funding:
        return "No funding program in the rule table applies to this opportunity."
    return "\n".join(f"- {flat(f.program)}: {flat(f.description)} Why: {flat(f.justification)}." for f in funding)


def _follow_on_text(follow_on: list[FollowOnOpportunity]) -> str:
    if not follow_on:
        return "No follow-on pattern: too few customers in the history moved on from a project like this one."
    return "\n".join(
        f"- {flat(f.project_type)}: {flat(f.description)}. Expected ARR {money(f.expected_arr_usd)}, about "
        f"{f.expected_months_after_launch:.0f} months after launch, probability {f.probability:.0%}."
        for f in follow_on
    )


def _query_results(query: AnalogQuery, headers: OriginalHeaders) -> tuple[str, bool, str]:
    """The rows as JSON text, cut to ``X-Truncation-Limit`` characters when truncation is on, as the original did."""
    rows = [{k: v for k, v in row.items() if v is not None and not (isinstance(v, float) and not math.isfinite(v))}
            for row in query.rows]
    text = json.dumps({"data": rows}, ensure_ascii=False)
    limit = headers.truncation_limit
    if headers.enable_truncation and len(text) > limit:
        return text[:limit], True, f"query results cut to {limit} of {len(text)} characters (X-Truncation-Limit)"
    return text, False, ""


def envelope(analysis: Analysis, report: Report, query: AnalogQuery, query_results: str) -> dict[str, Any]:
    """The Lambda variant's ``data``: figures as strings, time to launch as a number of months (null when the
    history has no launch timing), services as one ``name|$m/month|$u upfront, ...`` string."""
    p, rows = analysis.predictions, query.by_id()
    ttl = p.time_to_launch_months
    return {
        "predictedArr": money(p.arr.value),
        "predictedMrr": money(p.mrr.value),
        "launchDate": p.launch_date or "",
        "timeToLaunch": round(ttl.value, 1) if ttl else None,
        "confidence": analysis.confidence.level,
        "confidenceScore": analysis.confidence.score,
        "topServices": ", ".join(service_line(s.name, s.monthly_usd, s.upfront_usd) for s in analysis.top_services),
        "analysisMethodology": report.methodology,
        "similarProjects": [
            {
                "projectName": flat(project.opportunity_name),
                "customer": flat(project.customer_name),
                "region": flat(project.country or project.region),
                "totalARR": money(project.arr_usd),
                "topServices": ", ".join(project_service_lines(rows.get(project.opportunity_id, {}))),
            }
            for project in analysis.similar_projects
        ],
        "detailedFindings": report.findings,
        "predictionRationale": report.rationale,
        "riskFactors": report.risk_factors,
        "architecture": report.architecture,
        "generatedSql": query.sql,
        "queryResults": query_results,
    }


def analyze_body(
    saved: SavedAnalysis,
    analysis: Analysis,
    report: Report,
    original: OriginalRequest,
    headers: OriginalHeaders,
    query: AnalogQuery,
) -> dict[str, Any]:
    """The full answer of ``POST /api/analyze``."""
    full = report.text()
    results, truncated, truncation_reason = _query_results(query, headers)
    return {
        **identity(saved, analysis, original),
        "data": envelope(analysis, report, query, results),
        "metrics": metrics(analysis, report),
        "methodology": report.methodology,
        "findings": report.findings,
        "rationale": report.rationale,
        "riskFactors": report.risk_factors,
        "similarProjects": report.similar_projects,
        "fullAnalysis": full,
        "formattedSummaryText": full,
        **funding_fields(analysis),
        **follow_on_fields(analysis),
        "validationErrors": report.validation_errors,
        "sections": _sections(report),
        "similarProjectsList": camel([p.model_dump(mode="json") for p in analysis.similar_projects]),
        "warnings": list(analysis.warnings),
        "input": camel(analysis.input.model_dump(mode="json")),
        "query": {
            "sql": query.sql,
            "dialect": "duckdb",
            "rowLimit": headers.row_limit,
            "truncationLimit": headers.truncation_limit,
            "enableTruncation": headers.enable_truncation,
            "analysisTimeout": headers.timeout_seconds,
            "model": f"oppscope engine {analysis.provenance.engine_version}",
            "modelId": analysis.provenance.model_id,
            "logs": [],
        },
        "debug": _debug(analysis, original, headers, query, full, (results, truncated, truncation_reason)),
    }


def _sections(report: Report) -> dict[str, str]:
    """The report's bodies under the keys of every original reader (React's own names included)."""
    return {
        "similarProjectsRaw": report.similar_projects,
        "similarProjects": report.similar_projects,
        "analysisMethodology": report.methodology,
        "detailedFindings": report.findings,
        "predictionRationale": report.rationale,
        "riskFactors": report.risk_factors,
        "architectureDescription": report.architecture,
        "architecture": report.architecture,
        "summaryMetrics": report.summary_metrics,
        "validationErrors": report.validation_errors,
    }


def _debug(
    analysis: Analysis,
    original: OriginalRequest,
    headers: OriginalHeaders,
    query: AnalogQuery,
    full: str,
    query_results: tuple[str, bool, str],
) -> dict[str, Any]:
    """The original's debug panel; the LLM fields stay empty strings because no LLM took part."""
    results, truncated, truncation_reason = query_results
    return {
        "sqlQuery": query.sql,
        "queryResults": results,
        "queryRowCount": len(query.rows),
        "queryCharCount": len(results),
        "queryDataSize": len(results.encode()),
        "truncated": truncated,
        "truncationReason": truncation_reason,
        "fullResponse": full,
        "sqlGenerationLogs": [],
        "analysisGenerationLogs": [f"history query failed: {query.error}"] if query.error else [],
        "bedrockPayload": "",
        "analysisBedrockPayload": "",
        "analysisPromptId": "",
        "analysisPromptVersion": "",
        "analysisPromptMeta": {},
        "fallbackReason": "",
        "timestamp": analysis.provenance.created_at.isoformat().replace("+00:00", "Z"),
        "requestHeaders": {to_camel(name[2:].replace("-", "_").lower()): value for name, value in headers.raw.items()},
        "unusedFields": original.unused_keys,
        "provenance": camel(analysis.provenance.model_dump(mode="json")),
    }


def error_response(exc: ApiError) -> JSONResponse:
    """Our error shape plus what the original's clients read: the top-level ``message``, the Lambda variant's
    ``success: false`` and ``error.timestamp``, and for a 400 the enhanced original's ``validationErrors``."""
    body: dict[str, Any] = {"success": False, **error_body(exc.code, exc.message, exc.details)}
    body["error"]["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body["message"] = exc.message
    if exc.status == 400:
        body["validationErrors"] = original_errors(exc.details.get("errors", []))
    return JSONResponse(answer(body), status_code=exc.status, headers=exc.headers)
