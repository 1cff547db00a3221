"""The seed's alerts as one rule model: evaluated on the internal time series, exported as Prometheus rules and as
CloudWatch alarms.

Every rule is built from the settings (``alert_*``), so ``oppscope alerts check``, the rules file a Prometheus
server loads and the alarms CloudFormation creates fire at the same thresholds over the same windows. Error rate
means 5xx answers over all answers, availability its complement, p95 the histogram's 95th percentile; a backend
is down while its latest reported state is down; resource use is the highest CPU, memory or disk share seen in the
window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from oppscope.config import Settings
    from oppscope.ops.timeseries import WindowStats

REQUESTS = "oppscope_http_requests_total"
DURATION_BUCKETS = "oppscope_http_request_duration_seconds_bucket"
BACKEND_UP = "oppscope_backend_up"
CACHE = "oppscope_cache_requests_total"
STAGE_BUCKETS = "oppscope_analysis_stage_seconds_bucket"
SERVICE_LABEL = "oppscope"


class Severity(StrEnum):
    critical = "critical"
    warning = "warning"


class Signal(StrEnum):
    availability = "availability"
    error_rate = "error_rate"
    p95 = "p95"
    backend_down = "backend_down"
    cpu = "cpu"
    memory = "memory"
    disk = "disk"


RESOURCES = (Signal.cpu, Signal.memory, Signal.disk)


@dataclass(frozen=True)
class AlertRule:
    name: str
    severity: Severity
    signal: Signal
    op: Literal["<", ">"]
    threshold: float
    window_minutes: int
    summary: str
    runbook: str

    @property
    def description(self) -> str:
        """The rule in words, with its threshold; static, so every export carries the same text."""
        if self.signal is Signal.backend_down:
            return "a backend's latest reported state is down"
        return f"{_signal_text(self.signal)} {_op_text(self.op)} {self.threshold_text} over {self.window_minutes} min"

    @property
    def threshold_text(self) -> str:
        if self.signal is Signal.p95:
            return f"{self.threshold:g} s"
        return f"{self.threshold * 100:g}%"

    def crosses(self, value: float) -> bool:
        return value < self.threshold if self.op == "<" else value > self.threshold

    def promql(self) -> str:
        """The rule's condition in PromQL over the metric names of the Prometheus contract."""
        return f"{signal_promql(self.signal, self.window_minutes)} {self.op} {self.threshold:g}"

    def labels(self) -> dict[str, str]:
        return {"severity": self.severity.value, "service": SERVICE_LABEL}

    def annotations(self) -> dict[str, str]:
        summary = self.summary + (" ({{ $labels.backend }})" if self.signal is Signal.backend_down else "")
        return {"summary": summary, "description": self.description, "runbook": self.runbook}


def _signal_text(signal: Signal) -> str:
    return {
        Signal.availability: "availability",
        Signal.error_rate: "5xx error rate",
        Signal.p95: "p95 response time",
        Signal.backend_down: "backend state",
        Signal.cpu: "CPU use",
        Signal.memory: "memory use",
        Signal.disk: "disk use",
    }[signal]


def _op_text(op: str) -> str:
    return "below" if op == "<" else "above"


def error_ratio_promql(window_minutes: int) -> str:
    w = f"{window_minutes}m"
    return f'sum(rate({REQUESTS}{{status=~"5.."}}[{w}])) / sum(rate({REQUESTS}[{w}]))'


def quantile_promql(quantile: float, window_minutes: int | str) -> str:
    w = f"{window_minutes}m" if isinstance(window_minutes, int) else window_minutes
    return f"histogram_quantile({quantile:g}, sum by (le) (rate({DURATION_BUCKETS}[{w}])))"


def signal_promql(signal: Signal, window_minutes: int) -> str:
    """The measured value of a signal, as PromQL (a backend's is 1 while up, 0 while down)."""
    if signal is Signal.error_rate:
        return error_ratio_promql(window_minutes)
    if signal is Signal.availability:
        return f"1 - ({error_ratio_promql(window_minutes)})"
    if signal is Signal.p95:
        return quantile_promql(0.95, window_minutes)
    if signal is Signal.backend_down:
        return f"min by (backend) ({BACKEND_UP})"
    return resource_promql(signal, f"{window_minutes}m")


# The resource gauges, in percent: CPU and memory summed over the live workers, disk of the data directory.
RESOURCE_METRICS = {
    "cpu": "oppscope_process_cpu_percent",
    "memory": "oppscope_process_memory_percent",
    "disk": "oppscope_disk_used_percent",
}


def resource_promql(resource: Signal, window: str) -> str:
    """The highest share of a resource in use over the window, 0-1 (the gauges are percentages)."""
    return f"max(max_over_time({RESOURCE_METRICS[resource.value]}[{window}])) / 100"


def alert_rules(settings: Settings) -> list[AlertRule]:
    """The seed's critical and warning alerts, at the thresholds and windows the settings hold."""
    critical, warning = settings.alert_critical_window_minutes, settings.alert_warning_window_minutes
    runbook = "oppscope diagnose; oppscope logs errors"
    rules = [
        AlertRule(
            "OppscopeAvailabilityLow",
            Severity.critical,
            Signal.availability,
            "<",
            settings.alert_availability_min,
            critical,
            "Availability is below its minimum",
            runbook,
        ),
        AlertRule(
            "OppscopeErrorRateCritical",
            Severity.critical,
            Signal.error_rate,
            ">",
            settings.alert_error_rate_critical,
            critical,
            "The error rate is critical",
            runbook,
        ),
        AlertRule(
            "OppscopeLatencyCritical",
            Severity.critical,
            Signal.p95,
            ">",
            settings.alert_p95_critical_s,
            critical,
            "Responses are critically slow",
            "oppscope queries slow; oppscope cache stats",
        ),
        AlertRule(
            "OppscopeBackendDown",
            Severity.critical,
            Signal.backend_down,
            "<",
            1,
            critical,
            "A backend is down",
            "oppscope check connectivity; oppscope diagnose",
        ),
        AlertRule(
            "OppscopeErrorRateHigh",
            Severity.warning,
            Signal.error_rate,
            ">",
            settings.alert_error_rate_warning,
            warning,
            "The error rate is high",
            runbook,
        ),
        AlertRule(
            "OppscopeLatencyHigh",
            Severity.warning,
            Signal.p95,
            ">",
            settings.alert_p95_warning_s,
            warning,
            "Responses are slow",
            "oppscope queries slow; oppscope cache stats",
        ),
    ]
    for resource in RESOURCES:
        rules.append(
            AlertRule(
                f"Oppscope{resource.value.capitalize()}High",
                Severity.warning,
                resource,
                ">",
                settings.alert_resource_warning,
                settings.alert_resource_window_minutes,
                f"{resource.value.upper() if resource is Signal.cpu else resource.value.capitalize()} use is high",
                "oppscope metrics resources",
            )
        )
    return rules


# --- evaluation on the internal time series ---------------------------------------------------------------


@dataclass(frozen=True)
class AlertState:
    rule: AlertRule
    firing: bool
    value: float | None  # None: nothing measured in the window (no requests, no resource sample)
    backends: list[str] = field(default_factory=list)  # the backends that are down, for OppscopeBackendDown

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.rule.name,
            "severity": self.rule.severity.value,
            "state": "firing" if self.firing else "ok",
            "value": self.value,
            "threshold": self.rule.threshold,
            "op": self.rule.op,
            "window_minutes": self.rule.window_minutes,
            "description": self.rule.description,
            "summary": self.rule.summary,
            "backends": self.backends,
        }


def signal_value(signal: Signal, stats: WindowStats) -> float | None:
    """What the time series measured for a signal over a window; resource percentages become ratios."""
    if signal is Signal.availability:
        return stats.availability
    if signal is Signal.error_rate:
        return stats.error_rate
    if signal is Signal.p95:
        return stats.p95_s
    if signal is Signal.backend_down:
        return 0.0 if stats.backends_down else 1.0
    percent = {Signal.cpu: stats.cpu_percent, Signal.memory: stats.memory_percent, Signal.disk: stats.disk_percent}
    value = percent[signal]
    return None if value is None else value / 100


def evaluate(rules: Iterable[AlertRule], window: Callable[[int], WindowStats]) -> list[AlertState]:
    """Each rule against its own window; ``window(minutes)`` is asked once per distinct window length."""
    windows: dict[int, WindowStats] = {}
    states = []
    for rule in rules:
        stats = windows.get(rule.window_minutes)
        if stats is None:
            stats = windows[rule.window_minutes] = window(rule.window_minutes)
        value = signal_value(rule.signal, stats)
        firing = value is not None and rule.crosses(value)
        backends = sorted(stats.backends_down) if rule.signal is Signal.backend_down else []
        states.append(AlertState(rule, firing, value, backends))
    return states


def critical_firing(states: Iterable[AlertState]) -> bool:
    return any(s.firing and s.rule.severity is Severity.critical for s in states)


# --- exports ----------------------------------------------------------------------------------------------


def prometheus_rules(rules: Iterable[AlertRule]) -> dict[str, Any]:
    """A Prometheus rules document (``rule_files``), one group per severity."""
    groups: dict[Severity, list[dict[str, Any]]] = {}
    for rule in rules:
        groups.setdefault(rule.severity, []).append(
            {"alert": rule.name, "expr": rule.promql(), "labels": rule.labels(), "annotations": rule.annotations()}
        )
    return {
        "groups": [
            {"name": f"oppscope-{severity.value}", "interval": "1m", "rules": items}
            for severity, items in groups.items()
        ]
    }


# CloudWatch metric names the service publishes (embedded metric format) in the configured namespace.
CW_REQUESTS = "Requests"
CW_ERRORS_5XX = "Errors5xx"
CW_ERRORS_4XX = "Errors4xx"
CW_LATENCY = "Latency"  # seconds, per request: percentiles come from CloudWatch's extended statistics
CW_BACKEND_UP = "BackendUp"  # dimension Backend
CW_CACHE_HITS = "CacheHits"
CW_CACHE_MISSES = "CacheMisses"
CW_STAGE = "AnalysisStageTime"  # seconds, dimension Stage
CW_RESOURCE = {Signal.cpu: "CPUUtilization", Signal.memory: "MemoryUtilization", Signal.disk: "DiskUtilization"}


def cloudwatch_alarms(rules: Iterable[AlertRule], settings: Settings, backends: Iterable[str]) -> dict[str, Any]:
    """A CloudFormation template of ``AWS::CloudWatch::Alarm`` resources, one per rule (per backend when down).

    Ratios use metric math over ``Requests`` and ``Errors5xx`` sums; p95 uses the ``p95`` extended statistic;
    resource metrics are percentages, so their threshold is scaled to 0-100.
    """
    namespace = settings.cloudwatch_namespace
    resources: dict[str, Any] = {}
    for rule in rules:
        base = {
            "AlarmName": f"oppscope-{rule.name}",
            "AlarmDescription": f"{rule.severity.value}: {rule.summary} ({rule.description})",
            "ComparisonOperator": "LessThanThreshold" if rule.op == "<" else "GreaterThanThreshold",
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "TreatMissingData": "notBreaching",
        }
        if rule.signal in (Signal.error_rate, Signal.availability):
            expression = "errors / requests" if rule.signal is Signal.error_rate else "1 - errors / requests"
            period = rule.window_minutes * 60
            resources[rule.name] = _alarm(
                base
                | {
                    "Threshold": rule.threshold,
                    "Metrics": [
                        _metric_query("errors", namespace, CW_ERRORS_5XX, "Sum", period),
                        _metric_query("requests", namespace, CW_REQUESTS, "Sum", period),
                        {"Id": "ratio", "Expression": expression, "Label": rule.signal.value, "ReturnData": True},
                    ],
                }
            )
        elif rule.signal is Signal.p95:
            resources[rule.name] = _alarm(
                base
                | {
                    "Namespace": namespace,
                    "MetricName": CW_LATENCY,
                    "ExtendedStatistic": "p95",
                    "Period": rule.window_minutes * 60,
                    "Threshold": rule.threshold,
                }
            )
        elif rule.signal is Signal.backend_down:
            for backend in backends:
                resources[f"{rule.name}{_pascal(backend)}"] = _alarm(
                    base
                    | {
                        "AlarmName": f"oppscope-{rule.name}-{backend}",
                        "Namespace": namespace,
                        "MetricName": CW_BACKEND_UP,
                        "Dimensions": [{"Name": "Backend", "Value": backend}],
                        "Statistic": "Minimum",
                        "Period": 60,
                        "Threshold": rule.threshold,
                    }
                )
        else:
            resources[rule.name] = _alarm(
                base
                | {
                    "Namespace": namespace,
                    "MetricName": CW_RESOURCE[rule.signal],
                    "Statistic": "Maximum",
                    "Period": rule.window_minutes * 60,
                    "Threshold": round(rule.threshold * 100, 6),
                }
            )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "oppscope alarms at the operations guide's thresholds (generated by oppscope alerts export)",
        "Resources": resources,
    }


def _alarm(properties: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def _metric_query(query_id: str, namespace: str, metric: str, stat: str, period: int) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric}, "Period": period, "Stat": stat},
        "ReturnData": False,
    }


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
