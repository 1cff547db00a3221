"""Schemathesis against the served OpenAPI spec: generated valid and invalid requests for every operation.

Two ways, both against a real server with real data and with every health check on (a spec whose patterns
make generators throw most draws away fails ``filter_too_much``):

- the ``st run`` command line with all four phases (examples, coverage, fuzzing, stateful, whose links chain
  create -> get/export/rerun) and every check it has, the default ones included;
- each operation driven through Hypothesis directly, valid and invalid data, so a failure names its case
  (schemathesis' lazy pytest fixture does not run under pytest 9).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import given, settings
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
    # As the command line finds for itself: h11 refuses a NUL byte in a header, so none is generated.
    schema.config.generation.update(allow_x00=False)
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
    @settings(max_examples=60, deadline=None, database=None)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate()

    check()


def test_schemathesis_finds_nothing_in_any_phase(module_server: str, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("st")), "run", f"{module_server}/openapi.json",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--checks", "all",
        "--max-examples", "25",
        "--workers", "1",
        "--generation-database", "none",
        "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    # In the test's own directory: st keeps a cache of the crashes it found under its working directory.
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=540, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Failed Health Check" not in run.stdout
