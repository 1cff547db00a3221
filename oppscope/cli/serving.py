"""``serve --daemon``, ``stop`` and ``status``: the production service behind nginx, run by our supervisor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from oppscope.cli.context import CliState, with_state

if TYPE_CHECKING:
    from oppscope.config import Settings
    from oppscope.serving.control import SupervisorStatus
    from oppscope.serving.daemon import Stale


def run_daemon(state: CliState, settings: Settings, host: str, port: int) -> None:
    """Start the supervisor and return once the service answers ready through the proxy."""
    from oppscope.serving.daemon import start_daemon

    status, stale = start_daemon(settings, host, port)
    _report_stale(state, stale)
    if state.json_mode:
        state.output.model(status)
    else:
        state.output.notice(
            f"serving on http://{host}:{port} (supervisor pid {status.pid}, instance {status.active} "
            f"on 127.0.0.1:{status.instance(status.active).port if status.active else '?'})",
            style="green",
        )


@with_state()
def stop(
    state: CliState,
    force: Annotated[
        bool, typer.Option("--force", help="Do not wait for in-flight requests (nginx TERM, instances killed).")
    ] = False,
) -> None:
    """Stop the daemon gracefully: nginx finishes the requests in flight, then the instances stop."""
    from oppscope.serving.daemon import stop_daemon

    stale = stop_daemon(state.settings(), graceful=not force)
    if stale is not None:
        _report_stale(state, stale)
    if state.json_mode:
        state.output.json({"stopped": True, "stale_cleaned": stale.found if stale else False})
    elif stale is None:
        state.output.notice("stopped", style="green")
    elif not stale.found:
        state.output.notice("the service was not running")


@with_state()
def status(state: CliState) -> None:
    """The release, pids, ports and readiness of the proxy and the instances; exits 1 unless ready."""
    from oppscope.serving.daemon import daemon_status

    current = daemon_status(state.settings())
    if state.json_mode:
        state.output.model(current)
    else:
        _print_status(state, current)
    if not current.ready:
        raise typer.Exit(1)


def _print_status(state: CliState, current: SupervisorStatus) -> None:
    proxy = current.proxy
    state.output.key_values(
        "Service",
        [
            ("ready", "yes" if current.ready else "NO"),
            ("profile", current.profile),
            ("release", current.release or "(installed)"),
            ("supervisor pid", current.pid),
            ("proxy", f"nginx pid {proxy.pid} on {proxy.host}:{proxy.port}, ready: {'yes' if proxy.ready else 'no'}"),
            ("upstream", f"{proxy.upstream} (generation {proxy.generation})"),
            ("run dir", current.run_dir),
        ],
    )
    state.output.table(
        "Instances",
        ("id", "state", "release", "port", "pid", "workers", "ready", "started"),
        [
            (
                i.id,
                i.state,
                i.release or "(installed)",
                i.port,
                i.pid,
                i.workers,
                _yes(i.ready),
                f"{i.started_at:%Y-%m-%d %H:%M:%S}",
            )
            for i in current.instances
        ],
    )
    if current.children:
        state.output.table(
            "Children",
            ("name", "running", "pid", "restarts", "note"),
            [(c.name, "yes" if c.running else "no", c.pid, c.restarts, c.note) for c in current.children],
        )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _report_stale(state: CliState, stale: Stale) -> None:
    if stale.found:
        stopped = ", ".join(stale.stopped) or "nothing still running"
        state.output.notice(
            f"a supervisor (pid {stale.supervisor_pid}) did not stop cleanly; its files are removed and "
            f"stopped: {stopped}",
            style="yellow",
        )
