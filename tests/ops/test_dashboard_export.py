"""The dashboard exports: every Grafana query evaluated by the real promtool (``promql_expr_test``) against series
with known rates, the Grafana JSON importable as is, and the CloudWatch body consistent with its metric math."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.config import load_settings
from oppscope.ops import dashboard
from oppscope.ops.alerts import BACKEND_UP, CACHE, DURATION_BUCKETS, REQUESTS, RESOURCE_METRICS, STAGE_BUCKETS
from oppscope.ops.timeseries import BUCKETS_S
from tests.ops.promtool import promtool, write_yaml

MINUTES = 30
FIRING = 'alertname="OppscopeErrorRateHigh",alertstate="firing",severity="warning",service="oppscope"'


def export(fmt: str, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / f"{fmt}.json"
    result = CliRunner().invoke(app, ["dashboard", "export", "--format", fmt, "--output", str(path)])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(path.read_text())
    return body


def per_minute(series: str, rate: float) -> dict[str, str]:
    return {"series": series, "values": f"0+{rate:g}x{MINUTES}"}


# Per minute: 1000 requests (850 201s, 100 422s, 50 500s); latency 40 in (0.25, 0.5], 20 in (0.5, 1],
# 30 in (2.5, 5], 8 in (5, 10], 2 in (15, 30] of every 100; 30 cache hits, 10 misses; CPU 35%, memory 12%, disk 60%.
LATENCY = {0.5: 40, 1: 20, 5: 30, 10: 8, 30: 2}
EXPECTED = {
    "requests": 1000.0,
    "p50": 0.75,  # 0.5 + 0.5 * (50 - 40) / 20
    "p95": 8.125,  # 5 + 5 * (95 - 90) / 8
    "p99": 22.5,  # 15 + 15 * (99 - 98) / 2
    "errors_4xx": 0.1,
    "errors_5xx": 0.05,
    "availability": 0.95,
    "cache_hit_rate": 0.75,
    "cpu": 0.35,
    "memory": 0.12,
    "disk": 0.6,
}


def input_series() -> list[dict[str, str]]:
    route = 'method="POST",route="/api/v1/analyses"'
    series = [
        per_minute(f'{REQUESTS}{{{route},status="201"}}', 850),
        per_minute(f'{REQUESTS}{{{route},status="422"}}', 100),
        per_minute(f'{REQUESTS}{{{route},status="500"}}', 50),
        per_minute(f'{CACHE}{{result="hit"}}', 30),
        per_minute(f'{CACHE}{{result="miss"}}', 10),
        {"series": f'{BACKEND_UP}{{backend="history"}}', "values": f"1x{MINUTES}"},
        {"series": f"ALERTS{{{FIRING}}}", "values": f"1x{MINUTES}"},
    ]
    for resource, value in (("cpu", 35), ("memory", 12), ("disk", 60)):
        series.append({"series": RESOURCE_METRICS[resource], "values": f"{value}x{MINUTES}"})
    cumulative = 0
    for edge in [*BUCKETS_S, math.inf]:
        cumulative += LATENCY.get(edge, 0)
        le = "+Inf" if edge == math.inf else f"{edge:g}"
        series.append(per_minute(f'{DURATION_BUCKETS}{{{route},le="{le}"}}', cumulative * 10))
        stage_count = 10 if edge >= 0.1 else 0  # every estimate stage in (0.05, 0.1]: p95 = 0.05 + 0.05 * 0.95
        series.append(per_minute(f'{STAGE_BUCKETS}{{stage="estimate",le="{le}"}}', stage_count))
    return series


def concrete(expr: str) -> str:
    """The query as promtool evaluates it: Grafana fills in ``$__rate_interval``, promtool needs a real range; and
    promtool compares floats exactly, so the value is compared in units of 1e-4 (``round`` to an integer)."""
    return f"round(({expr.replace(dashboard.RATE, '5m')}) * {SCALE})"


SCALE = 10_000


def test_every_grafana_query_is_valid_promql_with_the_right_value(tmp_path: Path) -> None:
    grafana = export("grafana", tmp_path)
    settings = load_settings()
    exprs = {s.key: s.promql for panel in dashboard.panels(settings) for s in panel.series}
    assert set(exprs) == set(EXPECTED)
    targets = [t["expr"] for p in grafana["panels"] for t in p["targets"]]
    assert set(exprs.values()) <= set(targets)
    tests = [
        {
            "expr": concrete(exprs[key]),
            "eval_time": "20m",
            "exp_samples": [{"labels": "{}", "value": round(value * SCALE)}],
        }
        for key, value in EXPECTED.items()
    ]
    tests.append(
        {
            "expr": concrete(dashboard.STAGE_PROMQL),
            "eval_time": "20m",
            "exp_samples": [{"labels": '{stage="estimate"}', "value": round(0.0975 * SCALE)}],
        }
    )
    tests.append(
        {
            "expr": dashboard.ALERTS_PROMQL,
            "eval_time": "20m",
            "exp_samples": [{"labels": '{alertname="OppscopeErrorRateHigh",severity="warning"}', "value": 1}],
        }
    )
    write_yaml(tmp_path / "empty.yml", {"groups": []})
    document = {
        "rule_files": ["empty.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series(), "promql_expr_test": tests}],
    }
    write_yaml(tmp_path / "queries.yml", document)
    result = promtool("test", "rules", "queries.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails_promtool(tmp_path: Path) -> None:
    """The query test above can fail: the same check with p95 expected at 9 s does."""
    write_yaml(tmp_path / "empty.yml", {"groups": []})
    p95 = next(s.promql for p in dashboard.panels(load_settings()) for s in p.series if s.key == "p95")
    document = {
        "rule_files": ["empty.yml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series(),
                "promql_expr_test": [
                    {"expr": concrete(p95), "eval_time": "20m", "exp_samples": [{"labels": "{}", "value": 9 * SCALE}]}
                ],
            }
        ],
    }
    write_yaml(tmp_path / "queries.yml", document)
    assert promtool("test", "rules", "queries.yml", cwd=tmp_path).returncode != 0


def test_the_grafana_dashboard_is_importable_as_is(tmp_path: Path) -> None:
    grafana = export("grafana", tmp_path)
    assert grafana["__inputs"][0]["name"] == "DS_PROMETHEUS" and grafana["uid"] == "oppscope-ops"
    assert grafana["timepicker"]["time_options"] == ["15m", "1h", "24h"]
    ids = [p["id"] for p in grafana["panels"]]
    assert len(ids) == len(set(ids)) == 8
    titles = {p["title"] for p in grafana["panels"]}
    assert {
        "Request rate",
        "Response time",
        "Error rate",
        "Availability",
        "Cache hit rate",
        "CPU, memory and disk",
        "Analysis stage time (p95)",
        "Alerts firing",
    } == titles
    for panel in grafana["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"] and all(t["refId"] and t["expr"] for t in panel["targets"])
    positions = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in grafana["panels"]]
    assert len(positions) == len(set(positions)), "panels overlap"


def test_the_cloudwatch_dashboard_reads_the_namespace_and_its_metric_math_is_complete(tmp_path: Path) -> None:
    body = export("cloudwatch", tmp_path)
    settings = load_settings()
    assert set(body) == {"widgets"}
    metric_widgets = [w for w in body["widgets"] if w["type"] == "metric"]
    assert len(metric_widgets) == 7
    for widget in metric_widgets:
        props = widget["properties"]
        assert props["region"] == settings.cloudwatch_region and props["period"] == 60
        ids = {entry[-1]["id"] for entry in props["metrics"] if isinstance(entry[-1], dict) and "id" in entry[-1]}
        for entry in props["metrics"]:
            if isinstance(entry[0], dict):  # metric math: every id it reads is defined in the same widget
                expression = entry[0]["expression"]
                names = {token for token in expression.replace("(", " ").replace(")", " ").split() if token.isalpha()}
                assert names <= ids, (expression, ids)
            else:
                assert entry[0] == settings.cloudwatch_namespace
    text = next(w for w in body["widgets"] if w["type"] == "text")
    assert "none yet" in text["properties"]["markdown"]


@pytest.mark.parametrize("fmt", ["grafana", "cloudwatch"])
def test_export_to_stdout_is_json(fmt: str) -> None:
    result = CliRunner().invoke(app, ["dashboard", "export", "--format", fmt])
    assert result.exit_code == 0 and json.loads(result.stdout)
