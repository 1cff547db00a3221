"""``oppscope serve``: the web app, with the history loaded before the first request can arrive."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import CliError

if TYPE_CHECKING:
    from oppscope.config import Settings

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@with_state()
def serve(
    state: CliState,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: the host setting).", show_default=False)
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default: the port setting).", show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes, sharing one memory-mapped model (default: the workers setting, else one per "
            "vCPU of the profile's resources).",
            show_default=False,
        ),
    ] = None,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Restart on code changes (development).")
    ] = False,
    daemon: Annotated[
        bool,
        typer.Option(
            "--daemon",
            help="Production: start a detached supervisor running nginx on the port in front of an instance on a "
            "loopback port; returns once the service answers ready (oppscope status, oppscope stop).",
        ),
    ] = False,
) -> None:
    """Serve the web UI and JSON API; loads the sample history first if the store is empty and allowed to."""
    settings = state.settings()
    bind = host or settings.host
    _refuse_open_remote(settings, bind)
    if daemon:
        if reload:
            raise CliError("invalid_option", "--reload is for development, not --daemon", {"daemon": True})
        _require_migrated(settings)
        from oppscope.cli.serving import run_daemon

        if workers:  # the supervisor reads its settings from the environment, as every instance it starts does
            os.environ["OPPSCOPE_WORKERS"] = str(workers)
        run_daemon(state, settings, bind, port or settings.port)
        return
    from oppscope.ops.multiproc import prepare_multiproc_dir

    prepare_multiproc_dir(settings)  # before anything imports prometheus-client (the wiring does)
    _require_migrated(settings)
    from oppscope.engines.cache import open_model_cache
    from oppscope.engines.loading import ensure_published, prepare_history
    from oppscope.history.store import HistoryError

    prepare_history(settings)
    try:
        # Fit (in a child process, so this supervisor stays small) and publish once here: every worker then
        # starts by mapping the published model.
        ensure_published(settings, open_model_cache(settings))
    except HistoryError as exc:
        state.output.notice(f"serving without an analysis engine: {exc.message}", style="yellow")
    # uvicorn builds the app itself (factory=True, and in a fresh process with --reload), so the effective
    # profile and data directory travel through the environment that create_app() reads.
    os.environ["OPPSCOPE_PROFILE"] = settings.profile.value
    os.environ["OPPSCOPE_DATA_DIR"] = str(settings.data_dir.resolve())
    from oppscope.ops.logging import start_log_pruning

    start_log_pruning(settings)
    import uvicorn

    uvicorn.run(
        "oppscope.web.app:create_app",
        factory=True,
        host=bind,
        port=port or settings.port,
        reload=reload,
        workers=None if reload else workers or settings.worker_count,
        log_level=settings.log_level,
        log_config=None,  # each worker's create_app() configures logging (JSON), uvicorn's loggers included
        access_log=False,  # replaced by the app's request log: route templates, no query strings
    )


def _refuse_open_remote(settings: Settings, host: str) -> None:
    """Without authentication the API is open to whoever reaches it: that is only safe on loopback."""
    if not settings.require_auth and host not in _LOOPBACK and not settings.allow_open_remote:
        raise CliError(
            "open_remote_bind",
            f"refusing to serve on {host} without authentication: use the staging or production profile, "
            "set OPPSCOPE_REQUIRE_AUTH=true, or OPPSCOPE_ALLOW_OPEN_REMOTE=true if you really mean it",
            {"host": host, "profile": settings.profile.value},
        )


def _require_migrated(settings: Settings) -> None:
    from oppscope.wiring import open_services

    with open_services(settings) as services:
        services.require_migrated()
