"""How every command talks to its user.

One place decides between JSON and rich text and how failures look, so a script can rely on the
``{"error": {"code", "message", "details"}}`` shape and on the exit code whichever command failed, and a
person never sees a stack trace for a mistake they can fix. Nothing heavy is imported at module level: this
module loads for ``--help`` too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from oppscope.errors import ErrorKind, OppscopeError, field_errors, invalid_input_message

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError
    from rich.console import Console

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

# The one place an error's kind becomes an exit code: 2 when the user's input or request was at fault (they can
# fix it and run again), 1 when the system was (a backend down, busy or broken).
EXIT_CODES: dict[ErrorKind, int] = {
    ErrorKind.malformed: EXIT_BAD_INPUT,
    ErrorKind.invalid: EXIT_BAD_INPUT,
    ErrorKind.not_found: EXIT_BAD_INPUT,
    ErrorKind.conflict: EXIT_BAD_INPUT,
    ErrorKind.unauthorized: EXIT_BAD_INPUT,
    ErrorKind.forbidden: EXIT_BAD_INPUT,
    ErrorKind.too_large: EXIT_BAD_INPUT,
    ErrorKind.rate_limited: EXIT_FAILURE,
    ErrorKind.unavailable: EXIT_FAILURE,
    ErrorKind.timeout: EXIT_FAILURE,
    ErrorKind.internal: EXIT_FAILURE,
}


class CliError(OppscopeError):
    """A command called the wrong way (a flag, a file, a setting): the user's to fix."""

    default_kind = ErrorKind.invalid


def exit_code(error: OppscopeError) -> int:
    return EXIT_CODES[error.kind]


def validation_details(exc: ValidationError) -> dict[str, Any]:
    return {"errors": field_errors(exc.errors(include_url=False, include_input=False, include_context=False))}


def expected_error(exc: BaseException) -> OppscopeError | None:
    """The failures users cause or can fix as an ``OppscopeError``; anything else is a bug (``None``)."""
    from pydantic import ValidationError

    if isinstance(exc, OppscopeError):
        return exc
    if isinstance(exc, ValidationError):
        return invalid_input(exc)
    return None


def invalid_input(exc: ValidationError) -> CliError:
    return CliError("invalid_input", invalid_input_message(exc.error_count()), validation_details(exc))


class Output:
    """Writes results to stdout and human notices to stderr, so ``--json`` output can be piped as is."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self._console: Console | None = None
        self._err_console: Console | None = None

    @property
    def console(self) -> Console:
        # Created on first use, not at import, so it writes to whatever sys.stdout is then (tests swap it).
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    @property
    def err_console(self) -> Console:
        if self._err_console is None:
            from rich.console import Console

            self._err_console = Console(stderr=True, highlight=False)
        return self._err_console

    def json(self, data: Any) -> None:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))

    def model(self, model: BaseModel) -> None:
        self.json(model.model_dump(mode="json"))

    def table(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: Iterable[Sequence[object]],
        *,
        right_align: Sequence[int] = (),
    ) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_lines=False)
        for index, column in enumerate(columns):
            table.add_column(column, justify="right" if index in right_align else "left", overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

    def key_values(self, title: str | None, pairs: Iterable[tuple[str, object]]) -> None:
        self.table(title, ("", ""), pairs)

    def bullets(self, title: str, items: Iterable[str]) -> None:
        from rich.markup import escape

        lines = [f"  • {escape(item)}" for item in items]
        self.console.print(f"\n[bold]{escape(title)}[/bold]")
        self.console.print("\n".join(lines) if lines else "  (none)")

    def notice(self, message: str, *, style: str = "") -> None:
        from rich.markup import escape

        self.err_console.print(f"[{style}]{escape(message)}[/{style}]" if style else escape(message))

    def fail(self, error: OppscopeError) -> NoReturn:
        if self.json_mode:
            self.json(error.body())
        else:
            self.notice(f"error [{error.code}]: {error.message}", style="bold red")
            for line in _detail_lines(error.details):
                self.notice(f"  {line}", style="red")
        raise typer.Exit(exit_code(error))

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn expected failures into a structured message and exit code; real bugs keep their traceback."""
        try:
            yield
        except typer.Exit:
            raise
        except Exception as exc:
            error = expected_error(exc)
            if error is None:
                raise
            self.fail(error)


def _detail_lines(details: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, value in details.items():
        if key == "errors" and isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping) and "message" in item:
                    where = item.get("field") or item.get("column") or item.get("row") or "input"
                    lines.append(f"{where}: {item['message']}")
                else:
                    lines.append(json.dumps(item, default=str))
        else:
            lines.append(f"{key}: {value if isinstance(value, str) else json.dumps(value, default=str)}")
    return lines
