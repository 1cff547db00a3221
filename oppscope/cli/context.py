"""Options every command shares and the state they build.

``--profile``, ``--data-dir`` and ``--json`` are accepted both before the command (``oppscope --json
history stats``) and after it (``oppscope history stats --json``); the value given closest to the command
wins. Settings are built only when a command needs them, so ``--help`` never touches pydantic.

A command declares only its own options and takes the ``CliState`` first; ``@with_state()`` adds the shared
options to the signature Typer reads and runs the command inside ``Output.guard()``, so every command fails
the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Concatenate

import typer

from oppscope.cli.output import CliError, Output, validation_details

if TYPE_CHECKING:
    from oppscope.config import Settings

ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help="Settings profile: development, staging or production.", show_default=False),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory holding history.duckdb and derived files.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


@dataclass
class CliState:
    profile: str | None = None
    data_dir: Path | None = None
    json_mode: bool = False
    output: Output = field(init=False)
    _settings: Settings | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.output = Output(self.json_mode)

    def settings(self) -> Settings:
        """The effective settings; a bad profile or environment value is the user's input error (exit 2)."""
        if self._settings is None:
            from pydantic import ValidationError

            from oppscope.config import Profile, load_settings

            try:
                self._settings = load_settings(profile=self.profile, data_dir=self.data_dir)
            except ValidationError as exc:
                raise CliError(
                    "invalid_settings",
                    "the settings are invalid (`oppscope config validate` says where each value came from)",
                    validation_details(exc),
                ) from exc
            except ValueError as exc:  # an unknown profile, a file that is not TOML, an unreadable secret file
                valid = {"valid_profiles": [p.value for p in Profile]} if "Profile" in str(exc) else {}
                raise CliError("invalid_settings", str(exc), valid) from exc
            _log_to_stderr(self._settings)
        return self._settings


def _log_to_stderr(settings: Settings) -> None:
    """Keep stdout for results (``--json``): the CLI logs to stderr for people, and to the JSON log file."""
    from oppscope.ops.logging import configure_logging

    configure_logging(settings, stream="stderr", console=True)


def command_state(ctx: typer.Context, profile: str | None, data_dir: Path | None, json_mode: bool) -> CliState:
    """Merge a command's own options over the global ones given before it."""
    base = ctx.find_object(CliState) or CliState()
    return CliState(
        profile=profile or base.profile,
        data_dir=data_dir or base.data_dir,
        json_mode=json_mode or base.json_mode,
    )


Command = Callable[Concatenate[CliState, ...], None]

# The shared options, appended after a command's own so that ``--help`` lists them last.
_SETTINGS_OPTIONS = (
    inspect.Parameter("profile", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ProfileOption),
    inspect.Parameter("data_dir", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DataDirOption),
)
_JSON_OPTION = inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption)
_CONTEXT = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)


def with_state(*, settings: bool = True, json: bool = True) -> Callable[[Command], Callable[..., None]]:
    """Give a command the shared options (``settings=False``: no ``--profile``/``--data-dir``; ``json=False``:
    no ``--json``, for commands that write files) and call it with their ``CliState``, inside ``guard()``."""

    def decorate(command: Command) -> Callable[..., None]:
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]  # all but the state
        shared = [*(_SETTINGS_OPTIONS if settings else ()), *((_JSON_OPTION,) if json else ())]
        parameters = [_CONTEXT, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own), *shared]

        @functools.wraps(command)
        def run(*, ctx: typer.Context, **options: Any) -> None:
            state = command_state(
                ctx, options.pop("profile", None), options.pop("data_dir", None), options.pop("json_output", False)
            )
            with state.output.guard():
                command(state, **options)

        # Typer builds the options from inspect.signature() (this one) and typing.get_type_hints() (these).
        run.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return run

    return decorate
