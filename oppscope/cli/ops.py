"""Operations commands: alerts, dashboards, the diagnostics of the seed's runbooks, and the ``check`` suite.

Each reads the same computation (``oppscope.ops.diagnostics``) over the internal time series and the JSON log,
so a number printed here is the number ``/ops`` shows. Heavy modules load inside the commands, as everywhere
in the CLI, so ``--help`` stays instant.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from oppscope.cli.context import CliState, DataDirOption, ProfileOption, command_state
from oppscope.cli.output import EXIT_BAD_INPUT, CliError

alerts_app = typer.Typer(help="The seed's alerts: evaluate them now, or export them.", no_args_is_help=True)
dashboard_app = typer.Typer(help="The operations dashboard for Grafana or CloudWatch.", no_args_is_help=True)


class AlertFormat(StrEnum):
    prometheus = "prometheus"
    cloudwatch = "cloudwatch"


class DashboardFormat(StrEnum):
    grafana = "grafana"
    cloudwatch = "cloudwatch"


OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.", show_default=False)
]


def _write(state: CliState, text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError("unwritable_output", f"cannot write {output}: {exc.strerror}", exit_code=EXIT_BAD_INPUT) from exc
    state.output.notice(f"wrote {output}")


@alerts_app.command("export")
def alerts_export(
    ctx: typer.Context,
    fmt: Annotated[AlertFormat, typer.Option("--format", help="prometheus (rules file) or cloudwatch (alarms).")],
    output: OutputOption = None,
    profile: ProfileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write the alerts as a Prometheus rules file or as CloudFormation CloudWatch alarms (JSON)."""
    state = command_state(ctx, profile, data_dir, False)
    with state.output.guard():
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
def dashboard_export(
    ctx: typer.Context,
    fmt: Annotated[DashboardFormat, typer.Option("--format", help="grafana or cloudwatch (dashboard body).")],
    output: OutputOption = None,
    profile: ProfileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write the /ops dashboard as Grafana dashboard JSON or a CloudWatch dashboard body."""
    state = command_state(ctx, profile, data_dir, False)
    with state.output.guard():
        from oppscope.ops import dashboard

        settings = state.settings()
        body = dashboard.grafana(settings) if fmt is DashboardFormat.grafana else dashboard.cloudwatch(settings)
        _write(state, json.dumps(body, indent=2), output)


def register(app: typer.Typer) -> None:
    """Add every operations command to the ``oppscope`` app."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(dashboard_app, name="dashboard")
