"""``oppscope backtest``: how well the engine would have predicted projects it has not seen."""

from __future__ import annotations

from typing import Annotated

import typer

from oppscope.cli.context import DataDirOption, JsonOption, ProfileOption, command_state
from oppscope.cli.output import EXIT_BAD_INPUT, CliError


def backtest(
    ctx: typer.Context,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the most recent projects held out and predicted (0 < f < 1).")
    ] = 0.2,
    profile: ProfileOption = None,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Hold out the latest projects, predict them from the rest, report the errors and interval coverage."""
    state = command_state(ctx, profile, data_dir, json_output)
    out = state.output
    with out.guard():
        if not 0 < test_fraction < 1:
            raise CliError(
                "invalid_input",
                "--test-fraction must be between 0 and 1",
                {"test_fraction": test_fraction},
                EXIT_BAD_INPUT,
            )
        settings = state.settings()
        from oppscope.analysis.runtime import prepare_history, run_backtest

        prepare_history(settings)
        report = run_backtest(settings, test_fraction=test_fraction)
    if out.json_mode:
        out.model(report)
    else:
        typer.echo(report.render_text())
