"""``oppscope deploy``, ``rollback``, ``notify`` and ``releases list``: releases switched with no failed request.

Progress goes to stderr one numbered step at a time, as each finishes; the result (every step with its status,
detail and duration) goes to stdout, as JSON with ``--json``. A deploy whose post-deployment checks fail has
rolled back by itself when the command exits 1, and says so.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import EXIT_FAILURE, CliError
from oppscope.releases.events import Event

if TYPE_CHECKING:
    from oppscope.releases.pipeline import Outcome, Step

app = typer.Typer(help="Releases installed side by side from the lock.", no_args_is_help=True)

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
WebhookOption = Annotated[
    str | None,
    typer.Option(
        "--webhook",
        help="Send the notice here (default: deploy_webhook_url, else alert_webhook_url).",
        show_default=False,
    ),
]
_STATUS_STYLE = {"ok": "green", "failed": "bold red", "skipped": "dim", "warn": "yellow"}


def _quiet_http() -> None:
    """httpx logs every request's URL at INFO; a webhook's URL carries its token, and each step reports its own."""
    import logging

    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _confirm(state: CliState, yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError("confirmation_required", f"{question}: pass --yes to confirm without a terminal")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(EXIT_FAILURE)


def _progress(state: CliState) -> Callable[[Step], None]:
    def report(step: Step) -> None:
        style = _STATUS_STYLE[step.status]
        state.output.notice(
            f"[{step.number:>2}] {step.name:<24} {step.status:<7} {step.duration_s:>7.2f} s  {step.detail}",
            style=style,
        )

    return report


def _finish(state: CliState, outcome: Outcome) -> None:
    if state.output.json_mode:
        state.output.json(outcome.as_dict())
    else:
        serving = outcome.release or "the installed oppscope"
        if outcome.ok:
            typer.echo(f"{outcome.action}: done in {outcome.duration_s:.1f} s; serving {serving}")
        elif outcome.rolled_back:
            typer.echo(f"{outcome.action}: FAILED and ROLLED BACK in {outcome.duration_s:.1f} s; serving {serving}")
        else:
            typer.echo(f"{outcome.action}: FAILED in {outcome.duration_s:.1f} s; nothing switched")
        if outcome.error:
            state.output.notice(f"error [{outcome.error['code']}]: {outcome.error['message']}", style="bold red")
    if not outcome.ok:
        raise typer.Exit(EXIT_FAILURE)


@with_state()
def deploy(
    state: CliState,
    path: Annotated[
        Path | None, typer.Option("--path", help="A checkout of the project to deploy.", show_default=False)
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="A tag, branch or commit of the project repository.", show_default=False),
    ] = None,
    repository: Annotated[
        Path | None,
        typer.Option("--repository", help="The git repository --version names (default: here).", show_default=False),
    ] = None,
    yes: YesOption = False,
    run_tests: Annotated[bool, typer.Option("--run-tests", help="Run the release's test suite (make test).")] = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="OPPSCOPE_TOKEN",
            help="Token for the post-deployment checks (default: a temporary one where tokens are required).",
            show_default=False,
        ),
    ] = None,
    check_seconds: Annotated[
        float, typer.Option("--check-seconds", min=1, max=600, help="How long `check performance` loads.")
    ] = 10.0,
    webhook: WebhookOption = None,
) -> None:
    """Deploy a release with no downtime: preflight checklist, migrations, new instance beside the old, readiness
    gate, proxy switch, drain, post-deployment checks; rolls back by itself when they fail."""
    from oppscope.releases.pipeline import Deploy, Options
    from oppscope.releases.store import Releases, resolve_source
    from oppscope.serving.control import SupervisorClient

    settings = state.settings()
    _quiet_http()
    source = resolve_source(path, version, repository)
    _confirm(state, yes, f"deploy {source.description} to the {settings.profile.value} service?")
    options = Options(run_tests=run_tests, token=token, check_seconds=check_seconds, webhook_url=webhook)
    client = SupervisorClient.of(settings)
    client.status()  # a clear error now when no supervisor runs
    outcome = Deploy(settings, client, Releases.of(settings), options, _progress(state))(source)
    _finish(state, outcome)


@with_state()
def rollback(state: CliState, yes: YesOption = False, webhook: WebhookOption = None) -> None:
    """Switch back to the previous release: start it, gate on it, switch the proxy, retire the current one."""
    from oppscope.releases.pipeline import Rollback
    from oppscope.releases.store import Releases
    from oppscope.serving.control import SupervisorClient

    settings = state.settings()
    _quiet_http()
    releases = Releases.of(settings)
    target = releases.link("previous") or "the installed oppscope"
    _confirm(state, yes, f"roll the {settings.profile.value} service back to {target}?")
    client = SupervisorClient.of(settings)
    client.status()
    outcome = Rollback(settings, client, releases, webhook, _progress(state))()
    _finish(state, outcome)


@with_state()
def notify(
    state: CliState,
    event: Annotated[Event, typer.Option("--event", help="What happened.")],
    webhook: WebhookOption = None,
    release: Annotated[
        str | None, typer.Option("--release", help="The release concerned (default: current).", show_default=False)
    ] = None,
) -> None:
    """Send a deployment or rollback notice to a webhook (retried on 429, 5xx and transport errors)."""
    from oppscope.releases.notify import notify_event, shown, webhook_url
    from oppscope.releases.store import Releases

    settings = state.settings()
    _quiet_http()
    url = webhook_url(settings, webhook)
    if url is None:
        raise CliError("no_webhook", "no webhook: pass --webhook or set OPPSCOPE_DEPLOY_WEBHOOK_URL")
    releases = Releases.of(settings)
    subject = release or releases.link("current")
    delivery = notify_event(url, event, subject, releases.link("previous"))
    body = {"event": event.value, "release": subject, "webhook": shown(url), "status": delivery.status}
    body |= {"attempts": delivery.attempts}
    if state.output.json_mode:
        state.output.json(body)
    else:
        typer.echo(f"{event} notice delivered to {body['webhook']} (HTTP {delivery.status}, {delivery.attempts} tries)")


@app.command("list")
@with_state()
def list_releases(state: CliState) -> None:
    """The installed releases, oldest first, with the one serving (current) and the one to roll back to."""
    from oppscope.releases.store import Releases

    releases = Releases.of(state.settings())
    found = releases.all()
    current, previous = releases.link("current"), releases.link("previous")
    if state.output.json_mode:
        state.output.json(
            {
                "root": str(releases.root),
                "current": current,
                "previous": previous,
                "releases": [r.as_dict() for r in found],
            }
        )
        return
    marks = {current: "current", previous: "previous"}
    rows = [
        (
            r.id,
            marks.get(r.id, ""),
            r.version,
            (r.commit or "-")[:12] + (" +dirty" if r.dirty else ""),
            r.schema_head,
            r.created_at[:19],
            r.source,
        )
        for r in found
    ]
    if rows:
        state.output.table(
            f"Releases in {releases.root}", ("id", "link", "version", "commit", "schema", "created", "source"), rows
        )
    else:
        typer.echo(f"no release in {releases.root}: `oppscope deploy --path DIR` installs one")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="releases")
    root.command("deploy")(deploy)
    root.command("rollback")(rollback)
    root.command("notify")(notify)
