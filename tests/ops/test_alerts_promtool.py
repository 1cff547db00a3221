"""The exported Prometheus rules, checked and unit-tested by the real promtool.

The promtool test file is generated here from the same settings the rules come from: for every alert, a series
just past its threshold (it must fire, with its labels and annotations) and one just short of it (it must stay
quiet), plus an idle service where nothing may fire. A rules file built from other thresholds must fail the
same tests, so they really pin the numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.config import Settings, load_settings
from oppscope.ops.alerts import (
    BACKEND_UP,
    DURATION_BUCKETS,
    REQUESTS,
    RESOURCE_METRICS,
    AlertRule,
    Signal,
    alert_rules,
    prometheus_rules,
)
from oppscope.ops.timeseries import BUCKETS_S
from tests.ops.promtool import promtool, write_yaml

MINUTES = 20
EVAL = "15m"
TOTAL = 1000  # requests per minute in the error-rate cases, 100 of them 4xx (which must not count)
CLIENT_ERRORS = 100


def _counter(labels: str, per_minute: float) -> dict[str, str]:
    return {"series": f"{REQUESTS}{{{labels}}}", "values": f"0+{per_minute:g}x{MINUTES}"}


def traffic(server_errors: int) -> list[dict[str, str]]:
    ok = TOTAL - CLIENT_ERRORS - server_errors
    route = 'method="POST",route="/api/v1/analyses"'
    return [
        _counter(f'{route},status="201"', ok),
        _counter(f'{route},status="422"', CLIENT_ERRORS),
        _counter(f'{route},status="500"', server_errors),
    ]


def latency(threshold_s: float, above: int) -> list[dict[str, str]]:
    """100 requests a minute: 4 very fast, the rest at or just under the threshold's bucket, ``above`` past it."""
    assert threshold_s in BUCKETS_S, "the seed's thresholds are bucket edges, so p95 is exact"
    fast, below = 4, 100 - 4 - above
    series = []
    for edge in [*BUCKETS_S, math.inf]:
        count = fast + (below if edge >= threshold_s else 0) + (above if edge > threshold_s else 0)
        le = "+Inf" if edge == math.inf else f"{edge:g}"
        labels = f'method="POST",route="/api/v1/analyses",le="{le}"'
        series.append({"series": f"{DURATION_BUCKETS}{{{labels}}}", "values": f"0+{count}x{MINUTES}"})
    return series


def gauge(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def cases(rule: AlertRule) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, str]]:
    """(series where the rule must fire, series where it must stay quiet, extra labels of the firing alert)."""
    t = rule.threshold
    if rule.signal is Signal.error_rate:
        return traffic(round(t * TOTAL) + 1), traffic(round(t * TOTAL) - 1), {}
    if rule.signal is Signal.availability:
        return traffic(round((1 - t) * TOTAL) + 1), traffic(round((1 - t) * TOTAL) - 1), {}
    if rule.signal is Signal.p95:
        return latency(t, above=6), latency(t, above=4), {}
    if rule.signal is Signal.backend_down:
        up = gauge(BACKEND_UP, 'backend="state_database"', f"1x{MINUTES}")
        down = gauge(BACKEND_UP, 'backend="history"', "1x10 0x10")
        recovered = gauge(BACKEND_UP, 'backend="history"', "0x10 1x10")
        return [up, down], [up, recovered], {"backend": "history"}
    metric = RESOURCE_METRICS[rule.signal.value]  # a percentage
    spike = {"series": metric, "values": f"50x7 {t * 100 + 1:g} 50x12"}
    quiet = {"series": metric, "values": f"50x7 {t * 100 - 1:g} 50x12"}
    return [spike], [quiet], {}


def expected(rule: AlertRule, extra: dict[str, str]) -> dict[str, Any]:
    annotations = {
        k: v.replace("{{ $labels.backend }}", extra.get("backend", "")) for k, v in rule.annotations().items()
    }
    return {"exp_labels": rule.labels() | extra, "exp_annotations": annotations}


def unit_tests(settings: Settings) -> dict[str, Any]:
    rules = alert_rules(settings)
    tests: list[dict[str, Any]] = []
    for rule in rules:
        firing, quiet, extra = cases(rule)
        tests.append(
            {
                "name": f"{rule.name} fires past {rule.threshold:g}",
                "interval": "1m",
                "input_series": firing,
                "alert_rule_test": [{"eval_time": EVAL, "alertname": rule.name, "exp_alerts": [expected(rule, extra)]}],
            }
        )
        tests.append(
            {
                "name": f"{rule.name} stays quiet short of {rule.threshold:g}",
                "interval": "1m",
                "input_series": quiet,
                "alert_rule_test": [{"eval_time": EVAL, "alertname": rule.name, "exp_alerts": []}],
            }
        )
    idle = traffic(0) + latency(settings.alert_p95_warning_s, above=0)
    for series in idle:
        series["values"] = f"0x{MINUTES}"
    tests.append(
        {
            "name": "an idle service raises nothing",
            "interval": "1m",
            "input_series": idle,
            "alert_rule_test": [{"eval_time": EVAL, "alertname": rule.name, "exp_alerts": []} for rule in rules],
        }
    )
    return {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}


def export_rules(tmp_path: Path, settings: Settings | None = None) -> Path:
    """The rules as `oppscope alerts export` writes them (or, for other settings, as the exporter builds them)."""
    path = tmp_path / "rules.yml"
    if settings is None:
        result = CliRunner().invoke(app, ["alerts", "export", "--format", "prometheus", "--output", str(path)])
        assert result.exit_code == 0, result.output
    else:
        write_yaml(path, prometheus_rules(alert_rules(settings)))
    return path


def test_exported_rules_pass_promtool_check_with_the_seed_thresholds(tmp_path: Path) -> None:
    path = export_rules(tmp_path)
    checked = promtool("check", "rules", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]
    assert len(rules) >= 6
    exprs = {rule["alert"]: rule["expr"] for rule in rules}
    assert exprs["OppscopeAvailabilityLow"].endswith("< 0.99") and "[5m]" in exprs["OppscopeAvailabilityLow"]
    assert exprs["OppscopeErrorRateCritical"].endswith("> 0.05") and "[5m]" in exprs["OppscopeErrorRateCritical"]
    assert exprs["OppscopeLatencyCritical"].endswith("> 30") and "[5m]" in exprs["OppscopeLatencyCritical"]
    assert exprs["OppscopeErrorRateHigh"].endswith("> 0.02") and "[10m]" in exprs["OppscopeErrorRateHigh"]
    assert exprs["OppscopeLatencyHigh"].endswith("> 15") and "[10m]" in exprs["OppscopeLatencyHigh"]
    assert exprs["OppscopeCpuHigh"].endswith("> 0.8") and "[15m]" in exprs["OppscopeCpuHigh"]
    assert "OppscopeBackendDown" in exprs
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules}
    assert severities["OppscopeBackendDown"] == "critical" and severities["OppscopeMemoryHigh"] == "warning"


def test_each_alert_fires_past_its_threshold_and_stays_quiet_short_of_it(tmp_path: Path) -> None:
    export_rules(tmp_path)
    tests = write_yaml(tmp_path / "tests.yml", unit_tests(load_settings()))
    result = promtool("test", "rules", tests.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    "other",
    [
        {"alert_error_rate_critical": 0.06},
        {"alert_p95_warning_s": 10.0},
        {"alert_availability_min": 0.98},
        {"alert_resource_warning": 0.9},
    ],
)
def test_rules_from_other_thresholds_fail_the_same_tests(tmp_path: Path, other: dict[str, float]) -> None:
    export_rules(tmp_path, load_settings(**other))
    tests = write_yaml(tmp_path / "tests.yml", unit_tests(load_settings()))
    result = promtool("test", "rules", tests.name, cwd=tmp_path)
    assert result.returncode != 0, "promtool accepted rules at the wrong threshold"
    assert "FAILED" in result.stdout + result.stderr
