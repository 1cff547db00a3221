"""Input validation: every bad field is refused with its name; every reasonable form is accepted."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from oppscope.analysis.contracts import Opportunity

BASE: dict[str, Any] = {
    "customer_name": "Acme",
    "region": "Germany",
    "close_date": "2026-01-31",
    "opportunity_name": "Data lake",
    "description": "Build a 40 TB data lake",
}


@pytest.mark.parametrize(
    "value",
    ["2026-01-31", "2026-01-31T10:00:00Z", "2026-01-31 00:00:00", 1769817600, 1769817600000, 1769817600000000000],
)
def test_close_date_forms(value: object) -> None:
    assert Opportunity.model_validate(BASE | {"close_date": value}).close_date == date(2026, 1, 31)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_name", ""),
        ("customer_name", "   "),
        ("customer_name", "a" * 301),
        ("region", None),
        ("close_date", "31/01/2026"),
        ("close_date", "1850-01-01"),
        ("close_date", 1e300),
        ("close_date", True),
        ("opportunity_name", "bad\x00name"),
        ("description", "x" * 20_001),
        ("industry", 42),
    ],
)
def test_bad_fields_are_named(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as err:
        Opportunity.model_validate(BASE | {field: value})
    assert {e["loc"][0] for e in err.value.errors()} == {field}


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError) as err:
        Opportunity.model_validate(BASE | {"colour": "blue"})
    assert err.value.errors()[0]["type"] == "extra_forbidden"


def test_optional_blanks_become_missing_and_text_is_trimmed() -> None:
    o = Opportunity.model_validate(BASE | {"industry": "", "customer_name": "  Acme  ", "id": "12"})
    assert o.industry is None
    assert o.customer_name == "Acme"
    assert o.id == "12"


@pytest.mark.parametrize("value", [0, 12, 1.5, True, ["a"]])
def test_an_id_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        Opportunity.model_validate(BASE | {"id": value})
    assert err.value.errors()[0]["loc"] == ("id",)


def test_sql_looking_text_is_just_text() -> None:
    o = Opportunity.model_validate(BASE | {"description": "'; DROP TABLE parquet; --"})
    assert o.description == "'; DROP TABLE parquet; --"
