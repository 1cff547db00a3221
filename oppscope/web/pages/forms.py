"""The analyze form: its fields, their HTML constraints (read from the ``Opportunity`` model so the browser and
the server can never disagree on a limit) and the server-side reading of a submitted form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import ValidationError

from oppscope.analysis.contracts import Opportunity
from oppscope.errors import field_errors
from oppscope.history.geo import AWS_REGION_COUNTRY
from oppscope.history.schema import CLOSE_DATE_END, CLOSE_DATE_START

REQUIRED_MESSAGE = "This field is required."
CLOSE_DATE_MIN = CLOSE_DATE_START.isoformat()
CLOSE_DATE_MAX = (CLOSE_DATE_END - timedelta(days=1)).isoformat()

_SCHEMA: dict[str, Any] = Opportunity.model_json_schema()


def _max_length(name: str) -> int | None:
    spec = _SCHEMA["properties"][name]
    for option in [spec, *spec.get("anyOf", [])]:
        if "maxLength" in option:
            return int(option["maxLength"])
    return None


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    hint: str
    widget: Literal["input", "textarea"] = "input"
    input_type: Literal["text", "date"] = "text"
    choices: str | None = None  # the vocabulary list offered as a <datalist>
    inputmode: str | None = None

    @property
    def required(self) -> bool:
        return self.name in _SCHEMA["required"]

    @property
    def maxlength(self) -> int | None:
        return _max_length(self.name)


@dataclass(frozen=True)
class FieldGroup:
    legend: str
    fields: tuple[FormField, ...]


GROUPS: tuple[FieldGroup, ...] = (
    FieldGroup(
        "The opportunity",
        (
            FormField("customer_name", "Customer name", "As it appears in Salesforce."),
            FormField("opportunity_name", "Opportunity name", "A short title for the deal."),
            FormField(
                "region", "Region", "A country (Germany) or an AWS region code (eu-central-1).", choices="locations"
            ),
            FormField("close_date", "Close date", "When the deal is expected to close.", input_type="date"),
            FormField(
                "description",
                "Description",
                "Scope, workloads, services: the words the analogs are matched on.",
                widget="textarea",
            ),
        ),
    ),
    FieldGroup(
        "What else you know (optional)",
        (
            FormField("industry", "Industry", "", choices="industries"),
            FormField("customer_segment", "Segment", "", choices="customer_segments"),
            FormField("partner_name", "Partner", "", choices="partners"),
            FormField("activity_focus", "Activity focus", "", choices="activities"),
            FormField("migration_phase", "Migration phase", "", choices="migration_phases"),
            FormField("business_description", "Business description", "What the customer does.", widget="textarea"),
        ),
    ),
    FieldGroup(
        "Links (optional)",
        (
            FormField("salesforce_link", "Salesforce link", "", inputmode="url"),
            FormField("aws_calculator_link", "AWS calculator link", "", inputmode="url"),
        ),
    ),
)

FIELDS: tuple[FormField, ...] = tuple(f for group in GROUPS for f in group.fields)


def choices(vocabulary: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The datalists: the history's vocabulary, plus every AWS region code next to the countries."""
    return {**vocabulary, "locations": [*vocabulary.get("countries", []), *AWS_REGION_COUNTRY]}


def text(form: Mapping[str, Any], name: str) -> str:
    """A posted text field; a missing field, or a file where text belongs, is empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Submission:
    values: dict[str, str]  # as typed, to show the form again
    opportunity: Opportunity | None
    errors: dict[str, str]  # field name -> message


def read_form(form: Mapping[str, Any]) -> Submission:
    """Validate a posted form with the same model the API uses; blank optional fields mean "not given"."""
    values = {f.name: text(form, f.name) for f in FIELDS}
    data = {name: value for name, value in values.items() if value.strip() or name in _SCHEMA["required"]}
    try:
        return Submission(values, Opportunity.model_validate(data), {})
    except ValidationError as exc:
        errors = {str(e["field"]): _sentence(e["message"]) for e in field_errors(exc.errors())}
    for field in FIELDS:
        if field.required and not values[field.name].strip():
            errors[field.name] = REQUIRED_MESSAGE
    return Submission(values, None, errors)


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    return f"{message[:1].upper()}{message[1:]}."
