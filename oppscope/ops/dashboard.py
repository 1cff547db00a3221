"""The operations dashboard as one model, drawn three ways: the ``/ops`` page (from the internal time series),
a Grafana dashboard (PromQL over the Prometheus contract) and a CloudWatch dashboard (the embedded-metric names).

A panel lists its series once, each with how to read it from a minute of the time series, its PromQL and its
CloudWatch metric, so the three dashboards show the same quantities under the same titles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from oppscope.ops import alerts as a
from oppscope.ops.timeseries import STAGES

if TYPE_CHECKING:
    from oppscope.config import Settings
    from oppscope.ops.timeseries import MinutePoint, WindowStats

WINDOWS = {"15m": 15, "1h": 60, "24h": 1440}
RATE = "$__rate_interval"  # Grafana's own rate window: at least four scrape intervals
Unit = Literal["reqpm", "s", "percentunit"]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(value: float | None) -> float | None:
    return None if value is None else value / 100


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    minute: Callable[[MinutePoint], float | None]  # the value for one minute of the internal time series
    promql: str
    cloudwatch: list[Any]  # one entry of a CloudWatch widget's "metrics" array (or several, for metric math)


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    unit: Unit
    series: tuple[Series, ...]
    description: str


def _requests_ratio(selector: str) -> str:
    total = f"sum(rate({a.REQUESTS}[{RATE}]))"
    return f"sum(rate({a.REQUESTS}{{{selector}}}[{RATE}])) / {total}"


def _cw(namespace: str, metric: str, *dimensions: str, **options: Any) -> list[Any]:
    """A CloudWatch metrics-array entry: namespace, name, dimension name/value pairs, then rendering options."""
    return [namespace, metric, *dimensions, options] if options else [namespace, metric, *dimensions]


def panels(settings: Settings) -> list[Panel]:
    ns = settings.cloudwatch_namespace
    server_errors = _requests_ratio('status=~"5.."')
    return [
        Panel(
            "requests",
            "Request rate",
            "reqpm",
            (
                Series(
                    "requests",
                    "requests/min",
                    lambda p: float(p.requests),
                    f"sum(rate({a.REQUESTS}[{RATE}])) * 60",
                    _cw(ns, a.CW_REQUESTS, stat="Sum", label="requests/min"),
                ),
            ),
            "Answers per minute, all routes.",
        ),
        Panel(
            "latency",
            "Response time",
            "s",
            tuple(
                Series(
                    f"p{q}",
                    f"p{q}",
                    getter,
                    a.quantile_promql(q / 100, RATE),
                    _cw(ns, a.CW_LATENCY, stat=f"p{q}", label=f"p{q}"),
                )
                for q, getter in (
                    (50, lambda p: p.p50_s),
                    (95, lambda p: p.p95_s),
                    (99, lambda p: p.p99_s),
                )
            ),
            "Percentiles of the time to answer, from the request duration histogram.",
        ),
        Panel(
            "errors",
            "Error rate",
            "percentunit",
            (
                Series(
                    "errors_4xx",
                    "4xx",
                    lambda p: _ratio(p.errors_4xx, p.requests),
                    _requests_ratio('status=~"4.."'),
                    [{"expression": "e4 / requests", "label": "4xx", "id": "r4"}],
                ),
                Series(
                    "errors_5xx",
                    "5xx",
                    lambda p: _ratio(p.errors_5xx, p.requests),
                    server_errors,
                    [{"expression": "e5 / requests", "label": "5xx", "id": "r5"}],
                ),
            ),
            "Share of answers that were client errors (4xx) and server errors (5xx).",
        ),
        Panel(
            "availability",
            "Availability",
            "percentunit",
            (
                Series(
                    "availability",
                    "availability",
                    lambda p: None if not p.requests else 1 - p.errors_5xx / p.requests,
                    f"1 - ({server_errors})",
                    [{"expression": "1 - e5 / requests", "label": "availability", "id": "avail"}],
                ),
            ),
            f"Share of answers that were not server errors; the critical alert is below "
            f"{settings.alert_availability_min:.0%}.",
        ),
        Panel(
            "cache",
            "Cache hit rate",
            "percentunit",
            (
                Series(
                    "cache_hit_rate",
                    "hit rate",
                    lambda p: _ratio(p.cache_hits, p.cache_hits + p.cache_misses),
                    f'sum(rate({a.CACHE}{{result="hit"}}[{RATE}])) / sum(rate({a.CACHE}[{RATE}]))',
                    [{"expression": "hits / (hits + misses)", "label": "hit rate", "id": "hitrate"}],
                ),
            ),
            "Analyses answered from the cache, of all cache look-ups.",
        ),
        Panel(
            "resources",
            "CPU, memory and disk",
            "percentunit",
            tuple(
                Series(
                    resource.value,
                    resource.value,
                    getter,
                    a.resource_promql(resource, RATE),
                    _cw(ns, a.CW_RESOURCE[resource], stat="Maximum", label=resource.value),
                )
                for resource, getter in (
                    (a.Signal.cpu, lambda p: _percent(p.cpu_percent)),
                    (a.Signal.memory, lambda p: _percent(p.memory_percent)),
                    (a.Signal.disk, lambda p: _percent(p.disk_percent)),
                )
            ),
            f"Share of the machine used; the warning is above {settings.alert_resource_warning:.0%}.",
        ),
    ]


def _cloudwatch_helpers(panel: Panel, ns: str) -> list[list[Any]]:
    """The hidden raw metrics a panel's metric math reads."""
    if panel.key in ("errors", "availability"):
        return [
            _cw(ns, a.CW_REQUESTS, id="requests", stat="Sum", visible=False),
            _cw(ns, a.CW_ERRORS_4XX, id="e4", stat="Sum", visible=False),
            _cw(ns, a.CW_ERRORS_5XX, id="e5", stat="Sum", visible=False),
        ]
    if panel.key == "cache":
        return [
            _cw(ns, a.CW_CACHE_HITS, id="hits", stat="Sum", visible=False),
            _cw(ns, a.CW_CACHE_MISSES, id="misses", stat="Sum", visible=False),
        ]
    return []


STAGE_PROMQL = f"histogram_quantile(0.95, sum by (le, stage) (rate({a.STAGE_BUCKETS}[{RATE}])))"
ALERTS_PROMQL = f'sum by (alertname, severity) (ALERTS{{alertstate="firing", service="{a.SERVICE_LABEL}"}})'


# --- Grafana ------------------------------------------------------------------------------------------------


def grafana(settings: Settings) -> dict[str, Any]:
    """A Grafana dashboard to import as is: it asks for a Prometheus data source on import (``DS_PROMETHEUS``)."""
    datasource = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    items: list[dict[str, Any]] = []
    for index, panel in enumerate(panels(settings)):
        items.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "description": panel.description,
                "datasource": datasource,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
                "targets": [
                    {"refId": chr(65 + n), "datasource": datasource, "expr": s.promql, "legendFormat": s.label}
                    for n, s in enumerate(panel.series)
                ],
            }
        )
    y = 8 * ((len(items) + 1) // 2)
    items.append(
        {
            "id": len(items) + 1,
            "type": "timeseries",
            "title": "Analysis stage time (p95)",
            "description": "95th percentile of each stage of an analysis.",
            "datasource": datasource,
            "gridPos": {"h": 8, "w": 12, "x": 0, "y": y},
            "fieldConfig": {"defaults": {"unit": "s"}, "overrides": []},
            "targets": [{"refId": "A", "datasource": datasource, "expr": STAGE_PROMQL, "legendFormat": "{{stage}}"}],
        }
    )
    items.append(
        {
            "id": len(items) + 1,
            "type": "table",
            "title": "Alerts firing",
            "description": "The oppscope alerts Prometheus has firing now (rules from `oppscope alerts export`).",
            "datasource": datasource,
            "gridPos": {"h": 8, "w": 12, "x": 12, "y": y},
            "targets": [
                {"refId": "A", "datasource": datasource, "expr": ALERTS_PROMQL, "instant": True, "format": "table"}
            ],
        }
    )
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes oppscope's /metrics",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
            {"type": "panel", "id": "table", "name": "Table", "version": ""},
        ],
        "uid": "oppscope-ops",
        "title": "oppscope operations",
        "tags": ["oppscope"],
        "timezone": "utc",
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {"time_options": list(WINDOWS)},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": items,
    }


# --- CloudWatch ---------------------------------------------------------------------------------------------


def cloudwatch(settings: Settings) -> dict[str, Any]:
    """A CloudWatch dashboard body (``put-dashboard --dashboard-body`` or ``AWS::CloudWatch::Dashboard``)."""
    ns, region = settings.cloudwatch_namespace, settings.cloudwatch_region
    widgets: list[dict[str, Any]] = []
    for index, panel in enumerate(panels(settings)):
        metrics: list[Any] = [*_cloudwatch_helpers(panel, ns)]
        for s in panel.series:
            metrics.append(s.cloudwatch)
        properties: dict[str, Any] = {
            "title": panel.title,
            "region": region,
            "view": "timeSeries",
            "stacked": False,
            "period": 60,
            "metrics": metrics,
        }
        if panel.unit == "percentunit":
            properties["yAxis"] = {"left": {"min": 0}}
        widgets.append(
            {
                "type": "metric",
                "x": 12 * (index % 2),
                "y": 6 * (index // 2),
                "width": 12,
                "height": 6,
                "properties": properties,
            }
        )
    y = 6 * ((len(widgets) + 1) // 2)
    widgets.append(
        {
            "type": "metric",
            "x": 0,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Analysis stage time (p95)",
                "region": region,
                "view": "timeSeries",
                "period": 60,
                "metrics": [_cw(ns, a.CW_STAGE, "Stage", stage, stat="p95", label=stage) for stage in STAGES],
            },
        }
    )
    widgets.append(
        {
            "type": "text",
            "x": 12,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "markdown": "## Alerts\nThe alarms from `oppscope alerts export --format cloudwatch` are named "
                "`oppscope-*`: see *Alarms* in the CloudWatch console.\n\n**Last backup:** none yet."
            },
        }
    )
    return {"widgets": widgets}


# --- the /ops page --------------------------------------------------------------------------------------------


def charts(settings: Settings, stats: WindowStats) -> dict[str, Any]:
    """The page's chart series: one value per minute of the window for each panel, and the stages' p95."""
    points = stats.points
    return {
        "minutes": [p.minute.isoformat() for p in points],
        "labels": [f"{p.minute:%H:%M}" for p in points],
        "panels": [
            {
                "key": panel.key,
                "title": panel.title,
                "unit": panel.unit,
                "series": [
                    {"key": s.key, "label": s.label, "values": [s.minute(p) for p in points]} for s in panel.series
                ],
            }
            for panel in panels(settings)
        ],
        "stages": {
            "labels": [stage for stage in STAGES if stage in stats.stage_p95_s],
            "values": [stats.stage_p95_s[stage] for stage in STAGES if stage in stats.stage_p95_s],
        },
    }
