"""``oppscope db``: the state database's schema (saved analyses, tokens), managed by Alembic."""

from __future__ import annotations

from typing import Annotated

import typer

from oppscope.cli.context import CliState, with_state

app = typer.Typer(help="Create and upgrade the state database (saved analyses, API tokens).", no_args_is_help=True)


@app.command("upgrade")
@with_state()
def upgrade(
    state: CliState,
    compatible_with: Annotated[
        str | None,
        typer.Option(
            "--compatible-with",
            help="Keep the schema usable by the code at this revision: hold back contract migrations it does not "
            "include (what `oppscope deploy` passes for the release still serving).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Bring the schema to this version's revision; running it again changes nothing."""
    from oppscope.state import migrate
    from oppscope.state.db import state_engine, state_url

    with state_engine(state.settings()) as engine:
        result = migrate.upgrade(engine, compatible_with=compatible_with)
    body = {
        "database": _safe_url(state_url(state.settings())),
        "before": result.before,
        "after": result.after,
        "changed": result.changed,
        "applied": list(result.applied),
        "deferred": list(result.deferred),
    }
    if state.output.json_mode:
        state.output.json(body)
    else:
        action = f"upgraded from {result.before or 'empty'} to" if result.changed else "already at"
        typer.echo(f"state database {action} revision {result.after} ({body['database']})")
        if result.deferred:
            typer.echo(f"held back until no older release needs them: {', '.join(result.deferred)}")


@app.command("current")
@with_state()
def current(state: CliState) -> None:
    """Show the schema revision of the database and this version's; exits 1 when this version cannot run on it."""
    from oppscope.state import migrate
    from oppscope.state.db import state_engine

    with state_engine(state.settings()) as engine:
        found = migrate.compatibility(engine)
    if state.output.json_mode:
        state.output.json(
            {"current": found.current, "required": found.head, "up_to_date": found.current == found.head}
            | {
                "compatible": found.ok,
                "reason": found.reason,
                "newer": list(found.newer),
                "pending": list(found.pending),
            }
        )
    else:
        typer.echo(f"current revision: {found.current or 'none'}; this version's: {found.head} ({found.reason})")
    if not found.ok:
        raise typer.Exit(1)


def _safe_url(url: str) -> str:
    """The URL without its password: it is printed and may be logged."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
