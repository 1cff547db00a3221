"""The original system's request: its body keys and their aliases, its date forms and its ``X-`` headers.

The original's clients cannot change, so this reads what they send the way the original read it: the first
truthy value of a key and its alias, an empty optional field as absent, unknown keys ignored, and the ``X-``
headers through JavaScript's ``parseInt(h) || default``, so no header value is ever refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from pydantic import ValidationError

from oppscope.analysis.contracts import Opportunity
from oppscope.errors import field_errors, invalid_input_message
from oppscope.web.errors import ApiError

# Opportunity field -> the original's body keys for it, the spelling its main page sends first.
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "customer_name": ("CustomerName", "customerName"),
    "region": ("region",),
    "close_date": ("closeDate",),
    "opportunity_name": ("oppName", "opportunityName"),
    "description": ("oppDescription", "description"),
    "industry": ("industry",),
    "customer_segment": ("customerSegment",),
    "partner_name": ("partnerName",),
    "activity_focus": ("activityFocus",),
    "business_description": ("businessDescription",),
    "migration_phase": ("migrationPhase",),
    "salesforce_link": ("salesforceLink",),
    "aws_calculator_link": ("awsCalculatorLink",),
}
# The original refused a request without these; our model does not require a description, the original did.
REQUIRED: Final = ("customer_name", "region", "close_date", "opportunity_name", "description")
_KNOWN_KEYS: Final = frozenset(key for keys in FIELDS.values() for key in keys)

# The React client's second date form; ISO dates, ISO datetimes and Unix times the model reads itself.
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_JS_INT = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))")
_ORIGINAL_ERROR_TYPES: Final = {"missing": "required", "string_too_long": "length"}
# A quote that closes an SQL string, then SQL: how an injection attempt reads, and no organisation's or project's
# name does. oppscope never runs any of this text as SQL; the original's own security suite treats an answer
# to such a name as a leak, so these routes refuse it as the suite expects (the JSON API takes it as text).
_SQL_FRAGMENT = re.compile(r"'\s*(?:;|--|#|/\*|\b(?:or|and|union|select|insert|update|delete|drop|exec)\b)",
                           re.IGNORECASE)
NAMES: Final = ("customer_name", "opportunity_name", "partner_name")
HEADER_NAMES: Final = ("X-SQL-Query-Limit", "X-Truncation-Limit", "X-Enable-Truncation", "X-Analysis-Timeout")


# Beyond any limit a header can set; a longer number is read as this, never converted (Python refuses to turn
# more than 4,300 decimal digits into an int, and no caller needs their value).
_HUGE: Final = 10**18
_HUGE_DIGITS: Final = len(str(_HUGE))


def js_parse_int(text: str | None) -> int | None:
    """JavaScript's ``parseInt(text)``: leading digits (or ``0x`` hex) after optional space and sign; None is NaN.

    Magnitudes past ``_HUGE`` come back as ``±_HUGE``, as JavaScript's own Number loses them to rounding.
    """
    match = _JS_INT.match((text or "").lstrip())
    if match is None:
        return None
    sign, hexadecimal, decimal = match.groups()
    digits, base, width = (hexadecimal, 16, 15) if hexadecimal else (decimal, 10, _HUGE_DIGITS)
    significant = digits.lstrip("0")
    value = min(int(significant or "0", base), _HUGE) if len(significant) <= width else _HUGE
    return -value if sign == "-" else value


def _lenient(text: str | None, default: int, maximum: int) -> int:
    """``parseInt(h) || default``; below 1 (where the original's query or timer failed) the default, capped above."""
    value = js_parse_int(text)
    return min(value, maximum) if value is not None and value >= 1 else default


@dataclass(frozen=True)
class OriginalHeaders:
    """The original's tuning headers, as sent (for the debug panel) and as used."""

    raw: dict[str, str]
    row_limit: int
    truncation_limit: int
    enable_truncation: bool
    timeout_seconds: int

    @classmethod
    def read(cls, headers: Mapping[str, str]) -> OriginalHeaders:
        raw = {name: headers.get(name, "") for name in HEADER_NAMES}
        return cls(
            raw=raw,
            row_limit=_lenient(raw["X-SQL-Query-Limit"], 200, 100_000),
            truncation_limit=_lenient(raw["X-Truncation-Limit"], 400_000, 100_000_000),
            # The original compared with the exact string: anything but `false` (even absent) enables truncation.
            enable_truncation=raw["X-Enable-Truncation"] != "false",
            timeout_seconds=_lenient(raw["X-Analysis-Timeout"], 180, 3_600),
        )


@dataclass(frozen=True)
class OriginalRequest:
    opportunity: Opportunity
    session_id: str
    # `analysisResults.analysisId`, which the follow-up endpoints may reuse instead of analysing again.
    analysis_id: str
    unused_keys: list[str]


def read_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object, as Express' ``express.json()`` made it."""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        error = {"field": "body", "message": "the request body must be a JSON object", "type": "object_type"}
        raise ApiError(400, "invalid_input", error["message"], {"errors": [error]})
    return body


def _pick(body: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    """``body[a] || body[b]``, and the key the value came from, to name it in an error."""
    for key in keys:
        if body.get(key):
            return key, body[key]
    present = [key for key in keys if key in body]
    return (present[0], body[present[0]]) if present else (keys[0], None)


def _close_date(value: Any) -> Any:
    match = _US_DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    month, day, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return value  # the model rejects the original text with its own message


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_original(body: Mapping[str, Any]) -> OriginalRequest:
    """Map the original's body onto an ``Opportunity``, or raise a 400 naming the original's keys."""
    picked = {name: _pick(body, keys) for name, keys in FIELDS.items()}
    keys = {name: key for name, (key, _) in picked.items()}
    values = {name: value for name, (_, value) in picked.items() if value not in (None, "")}
    if "close_date" in values:
        values["close_date"] = _close_date(values["close_date"])
    errors = [
        {"field": keys[name], "message": "Field required", "type": "missing"}
        for name in REQUIRED
        if _blank(values.get(name))
    ] + [
        {"field": keys[name], "message": "looks like an SQL fragment, not a name", "type": "sql_fragment"}
        for name in NAMES
        if isinstance(values.get(name), str) and _SQL_FRAGMENT.search(values[name])
    ]
    opportunity: Opportunity | None = None
    try:
        opportunity = Opportunity.model_validate(values)
    except ValidationError as exc:
        flagged = {error["field"] for error in errors}
        for error in field_errors(exc.errors()):
            error["field"] = keys.get(error["field"], error["field"])
            if error["field"] not in flagged:
                errors.append(error)
    if errors or opportunity is None:
        fields = ", ".join(dict.fromkeys(str(error["field"]) for error in errors))
        raise ApiError(400, "invalid_input", f"{invalid_input_message(len(errors))}: {fields}", {"errors": errors})
    results = body.get("analysisResults")
    analysis_id = results.get("analysisId") if isinstance(results, dict) else None
    session = body.get("sessionId")
    return OriginalRequest(
        opportunity=opportunity,
        session_id=session[:200] if isinstance(session, str) else "",
        analysis_id=analysis_id if isinstance(analysis_id, str) else "",
        unused_keys=sorted(key for key in body if key not in _KNOWN_KEYS),
    )


def original_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Our field errors in the enhanced original's ``validationErrors`` form (types required|length|format)."""
    return [
        {
            "field": str(error["field"]),
            "message": str(error["message"]),
            "type": _ORIGINAL_ERROR_TYPES.get(str(error["type"]), "format"),
        }
        for error in errors
    ]
