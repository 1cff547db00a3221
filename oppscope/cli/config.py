"""``oppscope config``: validate, show, diff, apply, back up and restore the configuration.

These commands must work when the settings do not load (that is when they are needed), so they read them
through ``oppscope.configuration`` rather than ``CliState.settings()``, and turn every problem into one line
(or one JSON object) instead of a refusal to start.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import EXIT_FAILURE, CliError

if TYPE_CHECKING:
    from oppscope.configuration import Inspection

app = typer.Typer(
    help="Configuration profiles and the applied file: validate, show, diff, apply, backup, restore.",
    no_args_is_help=True,
)

CURRENT = "current"


def _overrides(state: CliState, profile: str | None = None) -> dict[str, Any]:
    return {"profile": profile or state.profile, "data_dir": state.data_dir}


def _record(state: CliState, event: str, result: dict[str, Any]) -> None:
    """The log file records what changed the configuration: the files and the names of the settings changed,
    never a value."""
    import structlog

    from oppscope.configuration import inspect_settings
    from oppscope.ops.logging import configure_logging

    inspection = inspect_settings(_overrides(state))
    if inspection.settings is not None:
        configure_logging(inspection.settings, stream="stderr", console=True)
    files = {k: v for k, v in result.items() if k != "changed"}
    structlog.get_logger("oppscope.configuration").info(event, **files, changed=sorted(result["changed"]))


def _loaded(state: CliState, profile: str | None = None) -> Inspection:
    from oppscope.configuration import ConfigError, inspect_settings

    inspection = inspect_settings(_overrides(state, profile))
    if inspection.settings is None:
        label = profile or state.profile or "the current"
        raise ConfigError.from_problems(
            f"the settings of {label} profile do not load: run `oppscope config validate`", inspection.errors
        )
    return inspection


@app.command("validate")
@with_state()
def validate(
    state: CliState,
    backends: Annotated[bool, typer.Option("--backends/--no-backends", help="Also check the backends answer.")] = True,
) -> None:
    """Types, ranges, unknown keys, paths, backends and secrets: one message per problem; exit 1 on an error."""
    from oppscope.configuration import validate_configuration

    report = validate_configuration(_overrides(state), check_backends=backends)
    if state.output.json_mode:
        state.output.json(report.as_dict())
    else:
        for problem in report.problems:
            style = "bold red" if problem.severity == "error" else "yellow"
            state.output.notice(f"{problem.severity}: {problem.text()}", style=style)
        errors = sum(p.severity == "error" for p in report.problems)
        warnings = len(report.problems) - errors
        verdict = "valid" if report.ok else "INVALID"
        typer.echo(f"{report.profile}: configuration {verdict} ({errors} errors, {warnings} warnings)")
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command("show")
@with_state()
def show(
    state: CliState,
    setting: Annotated[
        list[str] | None, typer.Option("--setting", "-s", help="Only these settings (repeatable).", show_default=False)
    ] = None,
) -> None:
    """The effective values, secrets masked, and where each came from: default, profile, file, secret_file,
    env or cli."""
    inspection = _loaded(state)
    values = inspection.values()
    unknown = sorted(set(setting or ()) - set(values))
    if unknown:
        raise CliError("unknown_setting", f"not a setting: {', '.join(unknown)}", {"settings": unknown})
    names = setting or list(values)
    rows = {name: {"value": values[name], **_origin(inspection, name)} for name in names}
    derived = _derived(inspection)
    if state.output.json_mode:
        state.output.json({"profile": inspection.profile, "settings": rows, "derived": derived})
    else:
        state.output.table(
            f"Settings ({inspection.profile})",
            ("setting", "value", "source"),
            [
                *((name, _text(row["value"]), inspection.origin_text(name)) for name, row in rows.items()),
                *((name, _text(value), "derived") for name, value in derived.items() if not setting),
            ],
        )


def _derived(inspection: Inspection) -> dict[str, Any]:
    """What the settings imply: the environment's size and the directories beside the data directory."""
    settings = inspection.settings
    assert settings is not None, "loaded"
    size = settings.resource_size
    return {
        "worker_count": settings.worker_count,
        "vcpus": size.vcpus,
        "memory_mb": size.memory_mb,
        "config_path": str(settings.config_path),
        "backup_path": str(settings.backup_path),
        "releases_path": str(settings.releases_path),
        "log_path": str(settings.log_path),
    }


def _origin(inspection: Inspection, name: str) -> dict[str, Any]:
    origin = inspection.origins.get(name)
    return {"source": origin.source if origin else "default", "detail": origin.detail if origin else None}


def _text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


@app.command("diff")
@with_state()
def diff(
    state: CliState,
    from_: Annotated[
        str, typer.Option("--from", help="A profile, or `current` (the settings as given now).", show_default=False)
    ],
    to: Annotated[str, typer.Option("--to", help="A profile, or `current`.")] = CURRENT,
) -> None:
    """What changes between two profiles' effective settings on this machine (environment and applied file
    included)."""
    from oppscope.config import Profile

    sides = []
    for side in (from_, to):
        if side != CURRENT and side not in {p.value for p in Profile}:
            raise CliError(
                "invalid_input",
                f"{side!r} is neither a profile nor {CURRENT!r}",
                {"valid": [*(p.value for p in Profile), CURRENT]},
            )
        sides.append(_loaded(state, None if side == CURRENT else side))
    old, new = (inspection.values() for inspection in sides)
    changes = {
        name: {
            "from": old[name],
            "to": new[name],
            "from_source": sides[0].origin_text(name),
            "to_source": sides[1].origin_text(name),
        }
        for name in new
        if old[name] != new[name]
    }
    labels = [
        f"{side} ({inspection.profile})" if side == CURRENT else side
        for side, inspection in zip((from_, to), sides, strict=True)
    ]
    if state.output.json_mode:
        state.output.json({"from": labels[0], "to": labels[1], "changes": changes})
    else:
        state.output.table(
            f"{labels[0]} -> {labels[1]}: {len(changes)} settings differ",
            ("setting", labels[0], labels[1]),
            ((name, _text(c["from"]), _text(c["to"])) for name, c in changes.items()),
        )


@app.command("apply")
@with_state()
def apply(
    state: CliState,
    file: Annotated[Path, typer.Argument(help="A TOML file of settings to make the applied configuration.")],
) -> None:
    """Validate FILE, back up the current applied file, then replace it atomically; an invalid FILE changes
    nothing."""
    from oppscope.configuration import apply_config

    result = apply_config(file, _overrides(state))
    _record(state, "configuration applied", result)
    _print_change(state, result, f"applied {result['applied']}")


@app.command("backup")
@with_state()
def backup(state: CliState) -> None:
    """Copy the applied file into <backup_path>/config/<YYYY-MM-DD>/ with a sha256 manifest."""
    from oppscope.configuration import backup_config

    made = backup_config(_overrides(state))
    if state.output.json_mode:
        state.output.json(made.as_dict() | {"moved_aside": str(made.moved_aside) if made.moved_aside else None})
    else:
        what = ", ".join(made.files) or "no applied file (defaults and profile only)"
        typer.echo(f"backed up {what} to {made.path}")


@app.command("backups")
@with_state()
def backups(state: CliState) -> None:
    """The configuration backups, oldest first."""
    from oppscope.configuration import list_backups

    found = list_backups(_overrides(state))
    if state.output.json_mode:
        state.output.json({"backups": [b.as_dict() for b in found]})
    else:
        state.output.table(
            "Configuration backups",
            ("backup", "created at", "files"),
            ((b.path.name, b.created_at, ", ".join(b.files) or "-") for b in found),
        )


def _backup_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD") from None


@app.command("restore")
@with_state()
def restore(
    state: CliState,
    backup_date: Annotated[
        date,
        typer.Option("--backup-date", parser=_backup_date, help="The day's backup (YYYY-MM-DD).", show_default=False),
    ],
) -> None:
    """Put back the applied file of that day's backup: checksums verified, the result validated, the current
    file kept first, written atomically."""
    from oppscope.configuration import restore_config

    result = restore_config(backup_date, _overrides(state))
    _record(state, "configuration restored", result)
    _print_change(state, result, f"restored {result['restored']}")


def _print_change(state: CliState, result: dict[str, Any], headline: str) -> None:
    if state.output.json_mode:
        state.output.json(result)
        return
    typer.echo(headline)
    for key in ("backup", "kept"):
        if result.get(key):
            typer.echo(f"previous file kept in {result[key]}")
    state.output.table(
        f"{len(result['changed'])} settings changed",
        ("setting", "from", "to"),
        ((name, _text(c["from"]), _text(c["to"])) for name, c in result["changed"].items()),
    )
