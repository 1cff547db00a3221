"""Schemathesis against the served OpenAPI spec: generated valid and invalid requests for every operation.

Every default check runs (no server errors, status codes and content types as documented, response bodies
matching their schemas, invalid data rejected), against a real server with real data. The operations are
driven through Hypothesis directly: schemathesis' lazy pytest fixture does not run under pytest 9.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.schemas import APIOperation

OPERATIONS = [
    ("POST", "/api/v1/analyses"),
    ("GET", "/api/v1/analyses"),
    ("GET", "/api/v1/analyses/{analysis_id}"),
    ("GET", "/api/v1/analyses/{analysis_id}/export"),
    ("POST", "/api/v1/analyses/{analysis_id}/rerun"),
    ("GET", "/api/v1/history/stats"),
    ("GET", "/api/v1/history/vocabulary"),
]


def _operations(url: str) -> dict[tuple[str, str], APIOperation]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[(operation.method.upper(), operation.path)] = operation
    return found


def test_every_api_operation_is_fuzzed(module_server: str) -> None:
    documented = {key for key in _operations(module_server) if key[1].startswith("/api/v1/")}
    assert documented == set(OPERATIONS)


# Invalid requests for every operation that takes input; the two history reads take none to get wrong.
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in schemathesis.GenerationMode
    if mode is schemathesis.GenerationMode.POSITIVE or not path.startswith("/api/v1/history/")
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_api_conforms_to_its_spec(
    module_server: str, method: str, path: str, mode: schemathesis.GenerationMode
) -> None:
    operation = _operations(module_server)[(method, path)]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate()

    check()
