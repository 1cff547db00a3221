"""``oppscope maintenance daily|weekly|monthly|emergency`` and ``oppscope capacity``: the seed's maintenance
procedures and capacity planning as commands.

Each checklist prints one line per item (pass, warn, fail or skipped, with the reason) and exits 1 when an item
fails. Heavy modules load inside the commands, as everywhere in the CLI, so ``--help`` stays instant.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.ops import TokenOption
from oppscope.cli.output import EXIT_FAILURE, CliError

if TYPE_CHECKING:
    from oppscope.maintenance.report import ChecklistReport
    from oppscope.ops.capacity import CapacityReport

app = typer.Typer(help="The seed's maintenance checklists, and emergency maintenance.", no_args_is_help=True)


class Switch(StrEnum):
    on = "on"
    off = "off"


class Window(StrEnum):
    quarter = "15m"
    hour = "1h"
    day = "24h"


UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Ask this running service for its health instead of checking here.", show_default=False),
]


def _checklist(state: CliState, name: str, url: str | None = None, token: str | None = None) -> None:
    from oppscope.maintenance import run

    if url is not None and not url.startswith(("http://", "https://")):
        raise CliError("invalid_input", "--url must start with http:// or https://", {"url": url})
    report = run(name, state.settings(), url, token)
    if state.output.json_mode:
        state.output.json(report.as_dict())
    else:
        _print_checklist(state, report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


_MARKS = {"pass": "pass", "warn": "WARN", "fail": "FAIL", "skipped": "skipped"}


def _print_checklist(state: CliState, report: ChecklistReport) -> None:
    state.output.table(
        f"maintenance {report.checklist}: {'ok' if report.ok else 'FAILED'}",
        ("item", "status", "detail", "ms"),
        [(r.title, _MARKS[r.outcome.status.value], r.outcome.detail, r.duration_ms) for r in report.results],
        right_align=(3,),
    )


@app.command("daily")
@with_state()
def daily(state: CliState, url: UrlOption = None, token: TokenOption = None) -> None:
    """Health, error log review, metrics against the alert thresholds, backup verification; exits 1 on a failure."""
    _checklist(state, "daily", url, token)


@app.command("weekly")
@with_state()
def weekly(state: CliState) -> None:
    """Capacity review, log clean-up, database vacuum and analyze, dependencies against the lock; exits 1 on a
    failure. Safe while the service runs."""
    _checklist(state, "weekly")


@app.command("monthly")
@with_state()
def monthly(state: CliState) -> None:
    """Capacity planning report, security audit of the locked dependencies, DR rehearsal; exits 1 on a failure."""
    _checklist(state, "monthly")


@app.command("emergency")
@with_state()
def emergency(
    state: CliState,
    switch: Annotated[Switch, typer.Argument(help="on: pause analyses on every worker; off: resume them.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (shown to callers and on /ops); required with on.")
    ] = None,
    retry_after: Annotated[
        int, typer.Option("--retry-after", min=1, max=86_400, help="Seconds clients are told to wait (Retry-After).")
    ] = 300,
) -> None:
    """Pause (on) or resume (off) the analysis endpoints on every worker within a second: they answer 503 with
    Retry-After; reads, saved analyses and health keep working."""
    from oppscope.ops import emergency as flag

    settings = state.settings()
    if switch is Switch.on:
        if reason is None:
            raise CliError("invalid_input", "--reason is required to switch emergency maintenance on")
        body = {"emergency": "on", **flag.switch_on(settings, reason, retry_after).as_dict()}
    else:
        body = {"emergency": "off", "was_on": flag.switch_off(settings)}
    body["flag"] = str(flag.emergency_path(settings))
    if state.output.json_mode:
        state.output.json(body)
    elif switch is Switch.on:
        state.output.notice(
            f"emergency maintenance on: analyses answer 503 (Retry-After {retry_after} s) within a second", style="bold"
        )
    else:
        state.output.notice("emergency maintenance off" if body["was_on"] else "emergency maintenance was not on")


@with_state()
def capacity(
    state: CliState,
    window: Annotated[Window, typer.Option("--window", help="The window of the time series to judge.")] = Window.hour,
) -> None:
    """Observed CPU, memory, p95 and queue depth against the seed's scaling triggers and the environment's size,
    and the workers or instances to run."""
    from oppscope.maintenance.items import capacity_report
    from oppscope.ops.dashboard import WINDOWS

    report = capacity_report(state.settings(), WINDOWS[window.value])
    if state.output.json_mode:
        state.output.json(report.as_dict())
    else:
        print_capacity(state, report)


def print_capacity(state: CliState, report: CapacityReport) -> None:
    body = report.as_dict()
    env, seen = body["environment"], body["observed"]
    state.output.key_values(
        f"Capacity, last {body['window']['minutes']} min: {report.verdict.replace('_', ' ')}",
        [
            ("action", report.action),
            ("environment", f"{env['resources']} ({env['vcpus']} vCPU, {env['memory_mb']} MB)"),
            ("workers", f"{report.workers_now} -> {report.workers_recommended}"),
            ("instances", _instances(report)),
            ("sampled minutes", seen["sampled_minutes"]),
        ],
    )
    state.output.table(
        "Triggers",
        ("trigger", "met", "observed"),
        [(f"scale {t.direction} on {t.signal}", "yes" if t.met else "no", t.detail) for t in report.triggers],
    )
    state.output.bullets("Why", report.reasons)


def _instances(report: CapacityReport) -> str:
    if report.instances_now is None:  # no supervisor running: only the change is known
        return f"{report.instances_delta:+d}"
    return f"{report.instances_now} -> {report.instances_recommended}"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="maintenance")
    root.command("capacity")(capacity)
