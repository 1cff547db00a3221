"""``oppscope serve``: the web app, with the history loaded before the first request can arrive."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from oppscope.cli.context import DataDirOption, JsonOption, ProfileOption, command_state


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: the host setting).", show_default=False)
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default: the port setting).", show_default=False),
    ] = None,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Restart on code changes (development).")
    ] = False,
    profile: ProfileOption = None,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Serve the web UI and JSON API; loads the sample history first if the store is empty and allowed to."""
    state = command_state(ctx, profile, data_dir, json_output)
    with state.output.guard():
        settings = state.settings()
        from oppscope.analysis.runtime import prepare_history

        prepare_history(settings)
    # uvicorn builds the app itself (factory=True, and in a fresh process with --reload), so the effective
    # profile and data directory travel through the environment that create_app() reads.
    os.environ["OPPSCOPE_PROFILE"] = settings.profile.value
    os.environ["OPPSCOPE_DATA_DIR"] = str(settings.data_dir.resolve())
    import uvicorn

    uvicorn.run(
        "oppscope.web.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        log_level=settings.log_level,
    )
