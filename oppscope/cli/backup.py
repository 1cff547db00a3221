"""``oppscope backup``, ``restore``, ``recover`` and ``dr``: backups and recovery (see ``oppscope.backup``).

Every command has ``--profile``, ``--data-dir`` and ``--json``; a report's ``ok`` is the exit status (0 or 1),
and a refusal (a damaged backup, a newer schema, a running server) is a structured error naming what to do.
"""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import EXIT_FAILURE, CliError

if TYPE_CHECKING:
    from oppscope.backup.drill import DrillReport
    from oppscope.backup.restore import RestoreReport

backup_app = typer.Typer(help="Create, list, verify, prune, schedule and test backups.", no_args_is_help=True)
recover_app = typer.Typer(help="Recover from the newest backup and the continuous replica.", no_args_is_help=True)
dr_app = typer.Typer(help="Disaster recovery rehearsal.", no_args_is_help=True)

YesOption = Annotated[bool, typer.Option("--yes", help="Do it without asking, also while a server runs.")]


class KindChoice(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class ScopeChoice(StrEnum):
    full = "full"
    config = "config"
    database = "database"


def _finish(state: CliState, body: dict[str, Any], ok: bool, lines: list[str]) -> None:
    if state.output.json_mode:
        state.output.json(body)
    else:
        for line in lines:
            typer.echo(line)
    if not ok:
        raise typer.Exit(EXIT_FAILURE)


@backup_app.command("create")
@with_state()
def create(
    state: CliState,
    kind: Annotated[KindChoice, typer.Option(help="Which retention the backup follows.")] = KindChoice.daily,
) -> None:
    """Back up the state database, the history, the model, configuration and releases' metadata."""
    from oppscope.backup import Kind, create_backup

    manifest = create_backup(state.settings(), Kind(kind.value))
    body = manifest.summary()
    counts = ", ".join(f"{v} {k}" for k, v in manifest.row_counts.items())
    _finish(state, body, True, [f"backup {manifest.id} created in {state.settings().backup_path} ({counts})"])


@backup_app.command("list")
@with_state()
def list_backups(state: CliState) -> None:
    """The backups, oldest first (``backup verify`` checks them)."""
    from oppscope.backup.catalog import manifests

    found = manifests(state.settings())
    if state.output.json_mode:
        state.output.json({"backups": [m.summary() for m in found]})
        return
    state.output.table(
        f"Backups in {state.settings().backup_path}",
        ("id", "kind", "created", "schema", "analyses", "history rows", "MB"),
        [
            (
                m.id,
                m.kind.value,
                m.created_at,
                m.schema_revision,
                m.row_counts.get("analyses", 0),
                m.row_counts.get("history_rows", 0),
                f"{sum(f.size for f in m.files) / 1e6:.1f}",
            )
            for m in found
        ],
        right_align=(4, 5, 6),
    )


@backup_app.command("verify")
@with_state()
def verify(
    state: CliState,
    backup_id: Annotated[str | None, typer.Argument(help="One backup (default: every one).")] = None,
) -> None:
    """Check every checksum, open every database, and restore the continuous replica to a scratch file."""
    from oppscope.backup import verify_backups

    report = verify_backups(state.settings(), backup_id)
    lines = [*report.problems]
    for check in report.backups:
        lines.append(f"{'ok  ' if check.ok else 'FAIL'} {check.id}")
        lines += [f"       {problem}" for problem in check.problems]
    if report.replica is not None:
        latest = report.replica.latest.isoformat() if report.replica.latest else "never"
        lines.append(f"{'ok  ' if report.replica.ok else 'FAIL'} continuous replica (latest change {latest})")
        lines += [f"       {problem}" for problem in report.replica.problems]
    _finish(state, report.as_dict(), report.ok, lines)


@backup_app.command("prune")
@with_state()
def prune(
    state: CliState,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
) -> None:
    """Remove backups past their retention (daily 30 days, weekly 365, monthly 7 years); the newest stays."""
    from oppscope.backup import prune as run_prune

    report = run_prune(state.settings(), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {len(report.removed)} backup(s), kept {len(report.kept)}", *report.removed]
    _finish(state, report.as_dict(), True, lines)


@backup_app.command("schedule")
@with_state()
def schedule(
    state: CliState,
    install: Annotated[bool, typer.Option("--install", help="Install into the user's crontab.")] = False,
) -> None:
    """The cron entries of the seed's schedule: print them, or install them with ``--install``."""
    from oppscope.backup.schedule import install as run_install

    report = run_install(state.settings(), write=install)
    _finish(state, report.as_dict(), True, [*report.lines, f"# {report.reason}"])


@backup_app.command("continuous")
@with_state()
def continuous(state: CliState) -> None:
    """Stream the state database to the backup directory (litestream) until stopped; restarts litestream."""
    from oppscope.backup import run_continuous

    code = run_continuous(state.settings())
    raise typer.Exit(code)


@with_state()
def restore(
    state: CliState,
    backup_id: Annotated[str | None, typer.Argument(help="The backup to restore (`oppscope backup list`).")] = None,
    to_time: Annotated[
        str | None,
        typer.Option(
            "--to-time",
            help="Restore the saved analyses as committed by this ISO time (the replica).",
            show_default=False,
        ),
    ] = None,
    yes: YesOption = False,
) -> None:
    """Restore a backup, or the state database as of a time; what is replaced is kept under pre-restore-*."""
    if (backup_id is None) == (to_time is None):
        raise CliError("restore_source", "give either a BACKUP_ID or --to-time ISO, one of them")
    from oppscope.backup import restore_backup, restore_to_time

    settings = state.settings()
    _confirm(state, yes, f"replace the data in {settings.data_dir}")
    if to_time is not None:
        report = restore_to_time(settings, _moment(to_time), yes=yes)
    else:
        assert backup_id is not None
        report = restore_backup(settings, backup_id, yes=yes)
    _restore_output(state, report)


_RECOVER_SCOPES = {
    "full": "State (newest of the latest backup and the replica), history, model, configuration, releases' metadata.",
    "database": "The state database (newest of the latest backup and the replica) and the history.",
    "config": "The configuration directory from the newest backup that holds one.",
}


def _recover_command(scope: str) -> Any:
    @with_state()
    def command(state: CliState, yes: YesOption = False) -> None:
        from oppscope.backup import Scope, recover

        settings = state.settings()
        if settings.state_path.exists() or settings.config_path.exists():
            _confirm(state, yes, f"replace what is in {settings.data_dir} and {settings.config_path}")
        report = recover(settings, Scope(scope), yes=yes)
        _restore_output(state, report)

    command.__doc__ = _RECOVER_SCOPES[scope]
    return command


for _scope in _RECOVER_SCOPES:
    recover_app.command(_scope)(_recover_command(_scope))


def _drill_command(run: str, doc: str) -> Any:
    """A rehearsal command: run ``oppscope.backup.<run>`` on the settings and print its report (one shape for all)."""

    @with_state()
    def command(state: CliState) -> None:
        import oppscope.backup as backup

        report = getattr(backup, run)(state.settings())
        _drill_output(state, report)

    command.__doc__ = doc
    return command


backup_app.command("test")(
    _drill_command(
        "backup_test",
        "Restore the latest backup into a scratch directory; check checksums, row counts and every analysis.",
    )
)
recover_app.command("test")(
    _drill_command("recover_test", "Rehearse ``recover full`` in a scratch directory and compare with the live state.")
)
dr_app.command("test")(
    _drill_command(
        "dr_test",
        "Lose the data directory (in a scratch copy), recover, serve, read back; RTO and RPO against the targets.",
    )
)


def _confirm(state: CliState, yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty() or state.output.json_mode:
        raise CliError(
            "confirmation_required", f"this would {what} (kept aside under pre-restore-*): pass --yes to go ahead"
        )
    if not typer.confirm(f"This will {what}; the current files are kept under pre-restore-*. Go ahead?"):
        raise typer.Exit(EXIT_FAILURE)


def _moment(text: str) -> datetime:
    from oppscope.backup.manifest import parse_utc

    try:
        return parse_utc(text)
    except ValueError as exc:
        raise CliError("invalid_time", f"{text!r} is not an ISO 8601 time", {"time": text}) from exc


def _restore_output(state: CliState, report: RestoreReport) -> None:
    lines = [
        f"restored {', '.join(report.restored)} in {report.seconds:.1f} s"
        + (f" from backup {report.backup_id}" if report.backup_id else ""),
        f"state from {report.state_source}, as of {report.recovery_point}" if report.state_source else "",
        f"row counts: {report.row_counts}" if report.row_counts else "",
        f"previous files kept in {report.set_aside}" if report.set_aside else "",
        *[f"warning: {w}" for w in report.warnings],
    ]
    _finish(state, report.as_dict(), report.ok, [line for line in lines if line])


def _drill_output(state: CliState, report: DrillReport) -> None:
    c = report.comparison
    lines = [f"{report.kind}: {'passed' if report.ok else 'FAILED'}"]
    if report.restore is not None:
        lines.append(f"  restored {', '.join(report.restore.restored)} (state from {report.restore.state_source})")
    lines.append(
        f"  analyses: {c.identical} of {c.compared} identical, {len(c.missing)} missing, {len(c.different)} different"
    )
    if c.history:
        lines.append(f"  history: snapshot {c.history.get('snapshot_id')}, {c.history.get('rows')} rows")
    if report.rto_seconds is not None and report.rto_target_seconds is not None:
        lines.append(
            f"  RTO {report.rto_seconds:.1f} s (target {report.rto_target_seconds:.0f} s: "
            f"{'met' if report.rto_met else 'MISSED'})"
        )
    if report.rpo_seconds is not None and report.rpo_target_seconds is not None:
        lines.append(
            f"  RPO {report.rpo_seconds:.1f} s (target {report.rpo_target_seconds:.0f} s: "
            f"{'met' if report.rpo_met else 'MISSED'})"
        )
    lines += [f"  problem: {p}" for p in [*report.problems, *c.problems]]
    _finish(state, report.as_dict(), report.ok, lines)


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
    app.add_typer(recover_app, name="recover")
    app.add_typer(dr_app, name="dr")
    app.command("restore")(restore)
