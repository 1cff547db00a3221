"""``oppscope backtest``: how well the engine would have predicted projects it has not seen."""

from __future__ import annotations

from typing import Annotated

import typer

from oppscope.cli.context import DataDirOption, JsonOption, ProfileOption, command_state
from oppscope.cli.output import CliError


def backtest(
    ctx: typer.Context,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the most recent projects held out and predicted (0.05 to 0.5).")
    ] = 0.2,
    profile: ProfileOption = None,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Hold out the latest projects, predict them from the rest, report the errors and interval coverage."""
    state = command_state(ctx, profile, data_dir, json_output)
    out = state.output
    with out.guard():
        from oppscope.analysis.backtest import MAX_TEST_FRACTION, MIN_TEST_FRACTION
        from oppscope.engines.loading import prepare_history, run_backtest

        if not MIN_TEST_FRACTION <= test_fraction <= MAX_TEST_FRACTION:
            raise CliError(
                "invalid_input",
                f"--test-fraction must be between {MIN_TEST_FRACTION} and {MAX_TEST_FRACTION}",
                {"test_fraction": test_fraction},
            )
        settings = state.settings()

        prepare_history(settings)
        report = run_backtest(settings, test_fraction=test_fraction)
    if out.json_mode:
        out.model(report)
    else:
        typer.echo(report.render_text())
