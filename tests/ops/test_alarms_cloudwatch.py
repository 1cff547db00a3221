"""The CloudWatch alarms export: a CloudFormation template cfn-lint accepts, one alarm per rule (per backend when
a backend is down), at the same thresholds and periods as the Prometheus rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.config import load_settings
from oppscope.ops.alerts import alert_rules
from oppscope.ops.checks import BACKENDS


def export(tmp_path: Path) -> Path:
    path = tmp_path / "alarms.json"
    result = CliRunner().invoke(app, ["alerts", "export", "--format", "cloudwatch", "--output", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_the_alarms_template_passes_cfn_lint(tmp_path: Path) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"  # a dev dependency, installed in the venv
    assert cfn_lint.exists(), "cfn-lint is missing: install the dev extra"
    result = subprocess.run([cfn_lint, str(export(tmp_path))], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_rule_becomes_an_alarm_at_its_threshold_and_period(tmp_path: Path) -> None:
    template = json.loads(export(tmp_path).read_text())
    resources = template["Resources"]
    assert all(r["Type"] == "AWS::CloudWatch::Alarm" for r in resources.values())
    settings = load_settings()
    for rule in alert_rules(settings):
        if rule.name == "OppscopeBackendDown":
            alarms = [resources[f"{rule.name}{''.join(p.capitalize() for p in b.split('_'))}"] for b in BACKENDS]
            assert [a["Properties"]["Dimensions"][0]["Value"] for a in alarms] == list(BACKENDS)
            assert all(a["Properties"]["Threshold"] == 1 for a in alarms)
            continue
        props = resources[rule.name]["Properties"]
        assert props["ComparisonOperator"] == ("LessThanThreshold" if rule.op == "<" else "GreaterThanThreshold")
        period = props.get("Period") or next(m["MetricStat"]["Period"] for m in props["Metrics"] if "MetricStat" in m)
        assert period == rule.window_minutes * 60
        scale = 100 if rule.signal.value in ("cpu", "memory", "disk") else 1
        assert props["Threshold"] == pytest.approx(rule.threshold * scale)
    assert resources["OppscopeErrorRateCritical"]["Properties"]["Threshold"] == 0.05
    assert resources["OppscopeLatencyCritical"]["Properties"]["ExtendedStatistic"] == "p95"
    assert resources["OppscopeLatencyHigh"]["Properties"]["Period"] == 600
    assert resources["OppscopeDiskHigh"]["Properties"]["Period"] == 900


def test_the_exported_backends_are_the_ones_the_service_reports(tmp_path: Path) -> None:
    from oppscope.wiring import open_services

    with open_services(load_settings(data_dir=tmp_path)) as services:
        assert tuple(check.name for check in services.checks) == BACKENDS
