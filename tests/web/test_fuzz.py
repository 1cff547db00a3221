"""Schemathesis against the served OpenAPI spec: generated valid and invalid requests for every operation.

Every default check runs (no server errors, status codes and content types as documented, response bodies
matching their schemas, invalid data rejected), against a real server with real data.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.schemas import BaseSchema


@pytest.fixture(scope="module")
def api_schema(module_server: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{module_server}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case: schemathesis.Case) -> None:
    case.call_and_validate()
