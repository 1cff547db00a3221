"""Operations commands: alerts, dashboards, the diagnostics of the seed's runbooks, and the ``check`` suites.

Each reads the same computation (``oppscope.ops.diagnostics``) over the internal time series and the JSON log,
so a number printed here is the number ``/ops`` shows. Heavy modules load inside the commands, as everywhere
in the CLI, so ``--help`` stays instant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import EXIT_FAILURE, CliError
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.ops.alerts import Severity

if TYPE_CHECKING:
    import httpx

    from oppscope.config import Settings
    from oppscope.engines.interfaces import ModelCache
    from oppscope.ops.alerts import AlertState
    from oppscope.ops.checks import Suite
    from oppscope.ops.diagnostics import OpsReport

alerts_app = typer.Typer(help="The seed's alerts: evaluate them now, or export them.", no_args_is_help=True)
dashboard_app = typer.Typer(help="The operations dashboard for Grafana or CloudWatch.", no_args_is_help=True)
logs_app = typer.Typer(help="Read the JSON log.", no_args_is_help=True)
metrics_app = typer.Typer(help="Resource use of the machine and the server processes.", no_args_is_help=True)
cache_app = typer.Typer(help="The analysis cache.", no_args_is_help=True)
queries_app = typer.Typer(help="Slow requests and analyses.", no_args_is_help=True)
monitor_app = typer.Typer(help="Watch the live service.", no_args_is_help=True)
check_app = typer.Typer(
    help="Validate a deployment: connectivity, endpoints, permissions, infrastructure, e2e, performance.",
    no_args_is_help=True,
)


class AlertFormat(StrEnum):
    prometheus = "prometheus"
    cloudwatch = "cloudwatch"


class DashboardFormat(StrEnum):
    grafana = "grafana"
    cloudwatch = "cloudwatch"


class WebhookFormat(StrEnum):
    alertmanager = "alertmanager"
    slack = "slack"


OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.", show_default=False)
]
WindowOption = Annotated[str, typer.Option("--window", help="The window to read: e.g. 15m, 1h, 24h.")]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="The running service (default: http://<host>:<port> of the settings).", show_default=False
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="OPPSCOPE_TOKEN", help="Bearer token for a service that needs one.", show_default=False
    ),
]


def _bad_input(exc: ValueError) -> CliError:
    return CliError("invalid_input", str(exc))


def _minutes(text: str) -> int:
    from oppscope.ops.diagnostics import window_minutes

    try:
        minutes = window_minutes(text)
    except ValueError as exc:
        raise _bad_input(exc) from exc
    if minutes > 24 * 60 * 90:
        raise CliError("invalid_input", "a window is at most 90 days")
    return minutes


def _report(state: CliState, window: str) -> OpsReport:
    from oppscope.ops.diagnostics import ops_report

    return ops_report(state.settings(), _minutes(window))


def _client(settings: Settings, url: str | None, token: str | None) -> httpx.Client:
    import logging

    from oppscope.ops.checks import default_url, service_client

    # every request is reported in the command's own output; httpx's per-request log lines would only repeat it
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)

    try:
        return service_client(url or default_url(settings), token)
    except ValueError as exc:
        raise _bad_input(exc) from exc


def _write(state: CliState, text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError("unwritable_output", f"cannot write {output}: {exc.strerror}") from exc
    state.output.notice(f"wrote {output}")


def _table(state: CliState, title: str, columns: tuple[str, ...], rows: list[Any], **kwargs: Any) -> None:
    """A table, or one line saying there is nothing to list."""
    if rows:
        state.output.table(title, columns, rows, **kwargs)
    else:
        typer.echo(f"{title}: none")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


# --- alerts -------------------------------------------------------------------------------------------------


def _alert_rows(states: list[AlertState]) -> list[tuple[object, ...]]:
    from oppscope.ops.notify import value_text

    return [
        (s.rule.name, s.rule.severity.value, "FIRING" if s.firing else "ok", value_text(s), s.rule.description)
        for s in states
    ]


@alerts_app.command("check")
@with_state()
def alerts_check(
    state: CliState,
    notify: Annotated[
        str | None,
        typer.Option("--notify", help="Post the firing alerts to this webhook (default: alert_webhook_url)."),
    ] = None,
    notify_format: Annotated[
        WebhookFormat | None,
        typer.Option(
            "--notify-format", help="alertmanager or slack (default: alert_webhook_format).", show_default=False
        ),
    ] = None,
) -> None:
    """Evaluate every alert on the live service's time series; exits 1 when a critical one fires."""
    from oppscope.config import secret_value
    from oppscope.ops import notify as notifier
    from oppscope.ops.alerts import critical_firing
    from oppscope.ops.checks import default_url
    from oppscope.ops.diagnostics import alert_states
    from oppscope.ops.timeseries import open_timeseries

    settings = state.settings()
    now = datetime.now(UTC)
    states = alert_states(settings, open_timeseries(settings), now)
    firing = [s for s in states if s.firing]
    url = notify or secret_value(settings.alert_webhook_url)
    delivery: dict[str, Any] | None = None
    if url and firing:
        chosen = notify_format.value if notify_format else settings.alert_webhook_format
        fmt: notifier.WebhookFormat = "slack" if chosen == "slack" else "alertmanager"
        body = notifier.payload(firing, fmt, f"{default_url(settings)}/ops", now)
        try:
            sent = notifier.send(url, body, alerts=len(firing))
        except notifier.NotifyError as exc:
            raise CliError("notify_failed", exc.message, {"attempts": exc.attempts, "status": exc.status}) from exc
        delivery = {"url": sent.url, "status": sent.status, "attempts": sent.attempts, "alerts": sent.alerts}
    if state.output.json_mode:
        state.output.json(
            {
                "evaluated_at": now.isoformat(),
                "critical_firing": critical_firing(states),
                "alerts": [s.as_dict() for s in states],
                "notified": delivery,
            }
        )
    else:
        state.output.table("Alerts", ("alert", "severity", "state", "now", "rule"), _alert_rows(states))
        if delivery:
            state.output.notice(
                f"notified {delivery['url']} ({delivery['alerts']} alerts, {delivery['attempts']} tries)"
            )
    if critical_firing(states):
        raise typer.Exit(EXIT_FAILURE)


@alerts_app.command("export")
@with_state(json=False)
def alerts_export(
    state: CliState,
    fmt: Annotated[AlertFormat, typer.Option("--format", help="prometheus (rules file) or cloudwatch (alarms).")],
    output: OutputOption = None,
) -> None:
    """Write the alerts as a Prometheus rules file or as CloudFormation CloudWatch alarms (JSON)."""
    from oppscope.ops.alerts import alert_rules, cloudwatch_alarms, prometheus_rules

    settings = state.settings()
    rules = alert_rules(settings)
    if fmt is AlertFormat.prometheus:
        import yaml

        header = "# oppscope alerts at the operations guide's thresholds (oppscope alerts export)\n"
        text = header + yaml.safe_dump(prometheus_rules(rules), sort_keys=False, width=1000)
    else:
        from oppscope.ops.checks import BACKENDS

        text = json.dumps(cloudwatch_alarms(rules, settings, BACKENDS), indent=2)
    _write(state, text, output)


@dashboard_app.command("export")
@with_state(json=False)
def dashboard_export(
    state: CliState,
    fmt: Annotated[DashboardFormat, typer.Option("--format", help="grafana or cloudwatch (dashboard body).")],
    output: OutputOption = None,
) -> None:
    """Write the /ops dashboard as Grafana dashboard JSON or a CloudWatch dashboard body."""
    from oppscope.ops import dashboard

    settings = state.settings()
    body = dashboard.grafana(settings) if fmt is DashboardFormat.grafana else dashboard.cloudwatch(settings)
    _write(state, json.dumps(body, indent=2), output)


# --- logs, metrics, cache, queries --------------------------------------------------------------------------


@logs_app.command("errors")
@with_state()
def logs_errors(
    state: CliState,
    since: Annotated[str, typer.Option("--since", help="A duration back from now (1h) or an ISO 8601 time.")] = "1h",
) -> None:
    """Failed requests in the JSON log, grouped by error code, each with its count and latest example."""
    from oppscope.ops.diagnostics import error_groups, parse_since
    from oppscope.ops.logging import iter_log_records

    try:
        start = parse_since(since)
    except ValueError as exc:
        raise _bad_input(exc) from exc
    groups = error_groups(iter_log_records(state.settings(), start))
    if state.output.json_mode:
        state.output.json(
            {"since": start.isoformat(), "total": sum(g.count for g in groups), "groups": [g.as_dict() for g in groups]}
        )
        return
    _table(
        state,
        f"Errors since {start:%Y-%m-%d %H:%M} UTC",
        ("code", "count", "statuses", "latest", "route", "request id"),
        [
            (
                g.code,
                g.count,
                ", ".join(f"{k}×{v}" for k, v in sorted(g.statuses.items())),
                str(g.latest.get("timestamp", ""))[:19],
                f"{g.latest.get('method')} {g.latest.get('route')}",
                g.latest.get("request_id"),
            )
            for g in groups
        ],
        right_align=(1,),
    )


@metrics_app.command("resources")
@with_state()
def metrics_resources(
    state: CliState,
    window: WindowOption = "15m",
) -> None:
    """CPU, memory and disk now and at their highest in the window, and per server process."""
    from oppscope.ops.diagnostics import resources

    report = _report(state, window)
    found = resources(state.settings(), report.stats, report.pids)
    if state.output.json_mode:
        state.output.json(found)
        return
    _print_resources(state, found)


def _print_resources(state: CliState, found: dict[str, Any]) -> None:
    now, peak = found["now"], found["window_max"]
    state.output.table(
        "Resources (%)",
        ("", "now", "window max"),
        [(name, now[f"{name}_percent"], peak[f"{name}_percent"]) for name in ("cpu", "memory", "disk")],
        right_align=(1, 2),
    )
    if found["processes"]:
        state.output.table(
            "Server processes",
            ("pid", "name", "cpu %", "memory %", "rss MiB", "threads"),
            [
                (
                    p["pid"],
                    p["name"],
                    p["cpu_percent"],
                    p["memory_percent"],
                    round(p["rss_bytes"] / 2**20, 1),
                    p["threads"],
                )
                for p in found["processes"]
            ],
            right_align=(0, 2, 3, 4, 5),
        )


@cache_app.command("stats")
@with_state()
def cache_stats(
    state: CliState,
    window: WindowOption = "1h",
    url: Annotated[
        str | None, typer.Option("--url", help="Also ask this service for its worker's cache entries.")
    ] = None,
    token: TokenOption = None,
) -> None:
    """Cache hits, misses and hit rate over the window (every worker's, from the time series); entries with --url."""
    from oppscope.ops.diagnostics import cache_stats as stats

    report = _report(state, window)
    found: dict[str, Any] = stats(state.settings(), report.stats)
    if url:
        with _client(state.settings(), url, token) as client:
            answer = client.get("/ops/data", params={"window": "15m"})
        if answer.status_code != 200:
            raise OppscopeError(
                "service_error",
                f"{url}/ops/data answered HTTP {answer.status_code}",
                {"status": answer.status_code},
                kind=ErrorKind.unavailable,
            )
        found["worker"] = answer.json()["worker"]
    if state.output.json_mode:
        state.output.json(found)
        return
    rows = [(k.replace("_", " "), _percent(v) if k == "hit_rate" else v) for k, v in found.items() if k != "worker"]
    if "worker" in found:
        rows.append((f"entries (worker {found['worker']['pid']})", found["worker"]["cache_entries"]))
    state.output.key_values(f"Analysis cache, last {report.stats.minutes} min", rows)


@queries_app.command("slow")
@with_state()
def queries_slow(
    state: CliState,
    since: Annotated[str, typer.Option("--since", help="A duration back from now (1h) or an ISO 8601 time.")] = "1h",
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=0, help="Seconds (default: the slow_request_s setting).", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Show at most this many.")] = 20,
) -> None:
    """The slowest requests of the log past the threshold, with the stage times of their analysis."""
    from oppscope.ops.diagnostics import parse_since, slow_requests
    from oppscope.ops.logging import iter_log_records

    settings = state.settings()
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise _bad_input(exc) from exc
    found = slow_requests(
        iter_log_records(settings, start), settings.slow_request_s if threshold is None else threshold, limit
    )
    if state.output.json_mode:
        state.output.json({"since": start.isoformat(), **found})
        return
    _print_slow(state, found)


def _print_slow(state: CliState, found: dict[str, Any]) -> None:
    _table(
        state,
        f"{found['slow']} of {found['requests']} requests took {found['threshold_s']:g} s or more",
        ("time", "request", "status", "ms", "stages (ms)", "cache"),
        [
            (
                str(item["timestamp"])[:19],
                f"{item['method']} {item['route']}",
                item["status"],
                item["duration_ms"],
                " ".join(f"{k} {v:g}" for k, v in (item["stages_ms"] or {}).items()),
                item["cache"] or "",
            )
            for item in found["items"]
        ],
        right_align=(2, 3),
    )


# --- diagnose ------------------------------------------------------------------------------------------------


@with_state()
def diagnose(
    state: CliState,
    full: Annotated[bool, typer.Option("--full", help="Add the infrastructure and permissions checks.")] = False,
    window: WindowOption = "15m",
    service: Annotated[
        bool, typer.Option("--service/--no-service", help="Also ask the running service for its readiness.")
    ] = True,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """One report: health, errors, latency percentiles, resources, cache, slow requests and alerts.

    Exits 1 when a backend is unreachable, the service is not ready, or a critical alert fires."""
    from oppscope.ops import checks
    from oppscope.ops.alerts import critical_firing
    from oppscope.ops.diagnostics import resources
    from oppscope.wiring import open_services

    settings = state.settings()
    report = _report(state, window)
    with open_services(settings) as services:
        probes = [probe for probe in services.checks if not probe.slow]
        published = partial(_published_id, services.model_cache)
        if service:
            with _client(settings, url, token) as client:
                suites = [checks.connectivity(settings, probes, published, client)]
        else:
            suites = [checks.connectivity(settings, probes, published)]
    if full:
        suites += [
            checks.infrastructure(settings, partial(_published_model, settings)),
            checks.permissions(settings, lambda: _token_counts(settings)),
        ]
    body = report.as_dict() | {
        "health": {
            "status": "ok" if all(s.ok for s in suites) else "fail",
            "suites": [s.as_dict() for s in suites],
        },
        "resources": resources(settings, report.stats, report.pids),
        "slow_requests": report.slow(),
    }
    failed = body["health"]["status"] != "ok" or critical_firing(report.alerts)
    if state.output.json_mode:
        state.output.json(body | {"status": "fail" if failed else "ok"})
    else:
        _print_diagnosis(state, report, body, suites)
    if failed:
        raise typer.Exit(EXIT_FAILURE)


def _print_diagnosis(state: CliState, report: OpsReport, body: dict[str, Any], suites: list[Suite]) -> None:
    for suite in suites:
        _print_suite(state, suite)
    w = body["window"]
    state.output.key_values(
        f"Traffic, last {w['minutes']} min",
        [
            ("requests", f"{w['requests']} ({w['rate_per_minute']:g}/min)"),
            ("4xx / 5xx", f"{w['errors_4xx']} / {w['errors_5xx']}"),
            ("error rate (5xx)", _percent(w["error_rate"])),
            ("availability", _percent(w["availability"])),
            ("p50 / p95 / p99", " / ".join(_seconds(w["latency_s"][q]) for q in ("p50", "p95", "p99"))),
            ("cache hit rate", _percent(body["cache"]["hit_rate"])),
        ],
    )
    _table(
        state,
        "Errors by code",
        ("code", "count", "latest", "route"),
        [(g["code"], g["count"], str(g["latest"]["timestamp"])[:19], g["latest"]["route"]) for g in body["errors"]],
        right_align=(1,),
    )
    _print_resources(state, body["resources"])
    _print_slow(state, body["slow_requests"])
    state.output.table("Alerts", ("alert", "severity", "state", "now", "rule"), _alert_rows(report.alerts))


# --- monitor -------------------------------------------------------------------------------------------------


@monitor_app.command("errors")
@with_state()
def monitor_errors(
    state: CliState,
    duration: Annotated[str, typer.Option("--duration", help="How long to watch: e.g. 15m.")] = "15m",
    interval: Annotated[str, typer.Option("--interval", help="Time between readings: e.g. 10s.")] = "10s",
    level: Annotated[
        Severity, typer.Option("--level", help="Stop at the critical or the warning thresholds.")
    ] = Severity.critical,
    url: Annotated[
        str | None, typer.Option("--url", help="Scrape this service's /metrics instead of reading the time series.")
    ] = None,
    token: TokenOption = None,
) -> None:
    """Watch the error rate and p95 live, one line per reading; exits 1 as soon as a threshold is crossed."""
    from oppscope.ops.diagnostics import parse_duration
    from oppscope.ops.monitor import MetricsReader, Monitor, SeriesReader

    settings = state.settings()
    try:
        total_s, every_s = parse_duration(duration).total_seconds(), parse_duration(interval).total_seconds()
    except ValueError as exc:
        raise _bad_input(exc) from exc
    reader = MetricsReader(_client(settings, url, token)) if url else SeriesReader(settings)
    monitor = Monitor(settings, reader, critical=level is Severity.critical)
    deadline = time.monotonic() + total_s
    crossed = None
    while True:
        reading = monitor.read()
        if state.output.json_mode:
            typer.echo(json.dumps(reading.as_dict()))
        else:
            typer.echo(reading.line())
        if reading.crossed:
            crossed = reading
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(every_s, remaining))
    if crossed is not None:
        state.output.notice(f"threshold crossed: {'; '.join(crossed.crossed)}", style="bold red")
        raise typer.Exit(EXIT_FAILURE)


# --- check ---------------------------------------------------------------------------------------------------


def _print_suite(state: CliState, suite: Suite) -> None:
    marks = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}
    state.output.table(
        f"check {suite.name}: {'ok' if suite.ok else 'FAILED'}",
        ("check", "status", "detail", "ms"),
        [(c.name, marks[c.status], c.detail, c.latency_ms) for c in suite.checks],
        right_align=(3,),
    )


def _finish(state: CliState, suite: Suite) -> None:
    if state.output.json_mode:
        state.output.json(suite.as_dict())
    else:
        _print_suite(state, suite)
    if not suite.ok:
        raise typer.Exit(EXIT_FAILURE)


@check_app.command("connectivity")
@with_state()
def check_connectivity(
    state: CliState,
    url: Annotated[str | None, typer.Option("--url", help="Also ask this running service for its readiness.")] = None,
    token: TokenOption = None,
) -> None:
    """Each backend reachable: history, state database, model cache (and the service's readiness with --url)."""
    from oppscope.ops import checks
    from oppscope.wiring import open_services

    settings = state.settings()
    with open_services(settings) as services:
        probes = [probe for probe in services.checks if not probe.slow]  # the engine is no backend
        if url:
            with _client(settings, url, token) as client:
                suite = checks.connectivity(settings, probes, partial(_published_id, services.model_cache), client)
        else:
            suite = checks.connectivity(settings, probes, partial(_published_id, services.model_cache))
    _finish(state, suite)


def _local_check(name: str, summary: str, build: Callable[[ModuleType, Settings], Suite]) -> None:
    """A ``check`` command over the data directory alone."""

    @with_state()
    def command(state: CliState) -> None:
        suite = build(import_module("oppscope.ops.checks"), state.settings())
        _finish(state, suite)

    command.__doc__ = summary
    check_app.command(name)(command)


def _service_check(name: str, summary: str, build: Callable[[ModuleType, httpx.Client, str | None], Suite]) -> None:
    """A ``check`` command against the running service."""

    @with_state()
    def command(state: CliState, url: UrlOption = None, token: TokenOption = None) -> None:
        with _client(state.settings(), url, token) as client:
            suite = build(import_module("oppscope.ops.checks"), client, token)
        _finish(state, suite)

    command.__doc__ = summary
    check_app.command(name)(command)


_service_check(
    "endpoints",
    "Every public route of the running service answers as documented (creates nothing).",
    lambda checks, client, token: checks.endpoints(client, token is not None),
)


def _published_id(cache: ModelCache) -> str | None:
    published = cache.published()
    return published.model_id if published else None


def _published_model(settings: Settings) -> str | None:
    """The published model's id, for the checks that run without the wiring's services."""
    from oppscope.engines.cache import open_model_cache

    return _published_id(open_model_cache(settings))


def _token_counts(settings: Settings) -> tuple[int, dict[str, int]]:
    """How many tokens are active, and how many of them hold each scope."""
    from oppscope.access.scopes import Scope
    from oppscope.wiring import open_services

    if settings.state_url is None and not settings.state_path.exists():
        raise OppscopeError(
            "state_missing", f"no state database at {settings.state_path}, so no tokens", kind=ErrorKind.unavailable
        )
    with open_services(settings) as services:
        active = [t for t in services.tokens.list() if t.active]
    return len(active), {scope.value: sum(scope in t.scopes for t in active) for scope in Scope}


_local_check(
    "permissions",
    "Data, log, ops and backup directories writable; the state database private; token scopes sane.",
    lambda checks, settings: checks.permissions(settings, lambda: _token_counts(settings)),
)
_local_check(
    "infrastructure",
    "Schema revision, disk, data files, model cache and the service port.",
    lambda checks, settings: checks.infrastructure(settings, partial(_published_model, settings)),
)
_service_check(
    "e2e",
    'A real analysis through the running service: POST it, GET it back (saved as customer "oppscope check").',
    lambda checks, client, _: checks.e2e(client),
)


@check_app.command("performance")
@with_state()
def check_performance(
    state: CliState,
    url: UrlOption = None,
    token: TokenOption = None,
    duration: Annotated[str, typer.Option("--duration", help="How long the load runs (at most 10m).")] = "30s",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=32, help="Parallel clients.")] = 4,
    max_requests: Annotated[int, typer.Option("--max-requests", min=1, max=100_000, help="Request budget.")] = 10_000,
) -> None:
    """A short bounded load of analyses (saved as customer "oppscope check") against the seed's baselines:
    p95 < 10 s, 100 requests/minute, error rate < 1%."""
    from oppscope.ops import checks
    from oppscope.ops.diagnostics import parse_duration

    settings = state.settings()
    try:
        seconds = parse_duration(duration).total_seconds()
    except ValueError as exc:
        raise _bad_input(exc) from exc
    if seconds > 600:
        raise CliError("invalid_input", "--duration is at most 10m")
    _client(settings, url, token).close()  # validates the URL before the load starts
    suite = checks.performance(settings, lambda: _client(settings, url, token), seconds, concurrency, max_requests)
    _finish(state, suite)


def register(app: typer.Typer) -> None:
    """Add every operations command to the ``oppscope`` app."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(dashboard_app, name="dashboard")
    app.add_typer(logs_app, name="logs")
    app.add_typer(metrics_app, name="metrics")
    app.add_typer(cache_app, name="cache")
    app.add_typer(queries_app, name="queries")
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(check_app, name="check")
    app.command("diagnose")(diagnose)
