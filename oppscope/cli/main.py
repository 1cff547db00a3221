"""The ``oppscope`` command.

Only Typer and the small CLI modules load here; each command imports its heavy machinery (DuckDB, NumPy,
FastAPI, the engine) when it runs, so ``oppscope --help`` stays instant.
"""

from __future__ import annotations

import typer

from oppscope.cli import backup, config, db, history, maintenance, ops, releases, tokens
from oppscope.cli.analyze import analyze
from oppscope.cli.backtest import backtest
from oppscope.cli.context import CliState, DataDirOption, JsonOption, ProfileOption, with_state
from oppscope.cli.health import health
from oppscope.cli.serve import serve
from oppscope.cli.serving import status, stop

app = typer.Typer(
    name="oppscope",
    help="Size a new cloud opportunity from the projects a partner already delivered.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: ProfileOption = None,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Size a new cloud opportunity from the projects a partner already delivered."""
    ctx.obj = CliState(profile=profile, data_dir=data_dir, json_mode=json_output)


@with_state(settings=False)
def version(state: CliState) -> None:
    """Print the installed version."""
    from oppscope import __version__

    if state.json_mode:
        state.output.json({"version": __version__})
    else:
        typer.echo(f"oppscope {__version__}")


app.add_typer(history.app, name="history")
app.add_typer(db.app, name="db")
app.add_typer(tokens.app, name="tokens")
app.add_typer(config.app, name="config")
app.command("analyze")(analyze)
app.command("serve")(serve)
app.command("stop")(stop)
app.command("status")(status)
app.command("backtest")(backtest)
app.command("health")(health)
app.command("version")(version)
ops.register(app)
releases.register(app)
maintenance.register(app)
backup.register(app)
