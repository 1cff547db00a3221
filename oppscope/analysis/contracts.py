"""Input and output contracts of an analysis.

These names are the public JSON of oppscope: the CLI, the API and every export use them unchanged, so
rename nothing here without a version bump.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from oppscope.history.schema import CLOSE_DATE_END, CLOSE_DATE_START

_CONTROL_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL = re.compile(f"[{_CONTROL_CLASS}]")
# The same rules as JSON Schema patterns, so the OpenAPI document promises exactly what the validators accept
# (the validators stay, for their clearer messages).
_TEXT_PATTERN = f"^[^{_CONTROL_CLASS}]*$"
_REQUIRED_PATTERN = f"^[^{_CONTROL_CLASS}]*[^\\s{_CONTROL_CLASS}][^{_CONTROL_CLASS}]*$"


def _clean_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    return value.strip()


def _required_text(value: str) -> str:
    value = _clean_text(value)
    if not value:
        raise ValueError("must not be blank")
    return value


def _text(max_length: int, pattern: str = _TEXT_PATTERN) -> Any:
    return Field(max_length=max_length, json_schema_extra={"pattern": pattern})


ShortText = Annotated[str, _text(300), AfterValidator(_clean_text)]
RequiredShortText = Annotated[str, _text(300, _REQUIRED_PATTERN), AfterValidator(_required_text)]
LongText = Annotated[str, _text(20_000), AfterValidator(_clean_text)]
Link = Annotated[str, _text(2_000), AfterValidator(_clean_text)]



class Opportunity(BaseModel):
    """A new opportunity as a seller types it. Only the first five fields are required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    # A string, as the schema says: 0 is refused, not read as "0". The batch CLI turns numeric ids into text
    # itself, since JSON Lines files often number their lines.
    id: Annotated[str, Field(max_length=200)] | None = None
    customer_name: RequiredShortText
    region: RequiredShortText = Field(description="Country name or AWS region code, e.g. 'Germany', 'eu-central-1'.")
    close_date: date = Field(
        description="ISO date (a datetime is cut to its date; Unix seconds/ms/µs/ns are accepted too).",
        # Month and day spelled out, not \d{2}: generators draw from the pattern and keep what is a real date,
        # and with \d{2}-\d{2} they threw away 96% of their draws (schemathesis' filter_too_much).
        json_schema_extra={"pattern": r"^(199\d|20\d\d|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"},
    )
    opportunity_name: RequiredShortText
    description: LongText = ""
    industry: ShortText | None = None
    customer_segment: ShortText | None = None
    partner_name: ShortText | None = None
    activity_focus: ShortText | None = None
    business_description: LongText | None = None
    migration_phase: ShortText | None = None
    salesforce_link: Link | None = None
    aws_calculator_link: Link | None = None

    @field_validator("close_date", mode="before")
    @classmethod
    def _parse_close_date(cls, value: Any) -> Any:
        # ISO dates are the contract; ISO datetimes are cut to their date, and Unix times (the history's own
        # close_date format, in s/ms/µs/ns told apart by size) are accepted so a copied row still works.
        if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
            return value[:10]
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                seconds = float(value)
            except OverflowError:  # an int beyond any float is no time at all; the date type refuses it
                return value
            if not math.isfinite(seconds):
                return value
            for _ in range(3):  # ms, µs, ns: each has three more digits than the one before
                if abs(seconds) < 1e11:
                    break
                seconds /= 1000
            if abs(seconds) >= 1e11:
                return value
            try:
                return datetime.fromtimestamp(seconds, tz=UTC).date()
            except (OverflowError, OSError, ValueError):
                return value
        return value

    @field_validator("close_date")
    @classmethod
    def _close_date_range(cls, value: date) -> date:
        if not CLOSE_DATE_START <= value < CLOSE_DATE_END:
            raise ValueError(f"must be on or after {CLOSE_DATE_START} and before {CLOSE_DATE_END}")
        return value

    @field_validator("industry", "customer_segment", "partner_name", "activity_focus", "migration_phase",
                     "business_description", "salesforce_link", "aws_calculator_link")
    @classmethod
    def _blank_is_missing(cls, value: str | None) -> str | None:
        return value or None


class Estimate(BaseModel):
    """A point value with its interval at ``Predictions.interval_level``."""

    value: float
    low: float
    high: float


class Predictions(BaseModel):
    mrr: Estimate
    arr: Estimate
    upfront_usd: Estimate
    # None only when the history holds no planned delivery dates to learn them from.
    time_to_launch_months: Estimate | None
    project_duration_months: Estimate | None
    launch_date: str | None = Field(pattern=r"^\d{4}-\d{2}$")
    interval_level: float
    stated_arr_median: float | None = Field(
        None, description="Median of the analogs' own annual_run_rate_usd, shown beside the computed ARR."
    )


ConfidenceLevel = Literal["HIGH", "MEDIUM", "LOW"]


class Confidence(BaseModel):
    level: ConfidenceLevel
    score: int = Field(ge=0, le=100)
    reasons: list[str]
    components: dict[str, float]


class ServiceCost(BaseModel):
    name: str
    monthly_usd: float
    upfront_usd: float
    usage_share: float = Field(description="Share of the (weighted) analogs that use this service.")


class SimilarProject(BaseModel):
    opportunity_id: str
    opportunity_name: str
    customer_name: str
    partner_name: str
    industry: str
    customer_segment: str
    country: str
    region: str
    project_type: str
    close_date: str
    planned_delivery_start_date: str
    planned_delivery_end_date: str
    mrr_usd: float
    arr_usd: float
    stated_arr_usd: float | None
    adjusted_arr_usd: float = Field(description="This analog's ARR corrected for how it differs from the opportunity.")
    time_to_launch_months: float | None
    services: list[str]
    similarity: float = Field(ge=0, le=1)
    weight: float
    match_reasons: list[str]


class Architecture(BaseModel):
    network: str
    compute: str
    data: str
    security: str
    integration: str
    scaling: str
    management: str


class Sections(BaseModel):
    methodology: str
    findings: list[str]
    rationale: str
    risk_factors: list[str]
    architecture: Architecture
    summary_metrics: dict[str, str]
    validation_notes: list[str]


class FundingRecommendation(BaseModel):
    program: str
    description: str
    rule: str
    justification: str
    supporting_analogs: list[str]


class FollowOnOpportunity(BaseModel):
    project_type: str
    description: str
    probability: float = Field(ge=0, le=1)
    expected_arr_usd: float
    expected_months_after_launch: float
    evidence_customers: int
    examples: list[str]


class Provenance(BaseModel):
    engine_version: str
    history_snapshot_id: str
    history_rows: int
    model_id: str
    settings: dict[str, Any]
    input_sha256: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Analysis(BaseModel):
    input: Opportunity
    predictions: Predictions
    confidence: Confidence
    top_services: list[ServiceCost]
    similar_projects: list[SimilarProject]
    sections: Sections
    funding: list[FundingRecommendation]
    follow_on: list[FollowOnOpportunity]
    provenance: Provenance
    warnings: list[str] = Field(default_factory=list)
