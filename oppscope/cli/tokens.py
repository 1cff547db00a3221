"""``oppscope tokens``: bearer tokens for the API and pages (required in staging and production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oppscope.access.scopes import Scope
from oppscope.cli.context import CliState, with_state

if TYPE_CHECKING:
    from oppscope.access.interfaces import TokenInfo, TokenStore

app = typer.Typer(help="Create, list and revoke API tokens (stored hashed).", no_args_is_help=True)


@contextmanager
def _tokens(state: CliState) -> Iterator[TokenStore]:
    from oppscope.wiring import open_services

    with open_services(state.settings()) as services:
        services.require_migrated()
        yield services.tokens


def _row(info: TokenInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "scopes": sorted(info.scopes),
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "last_used_at": info.last_used_at,
        "active": info.active,
    }


@app.command("create")
@with_state()
def create(
    state: CliState,
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token.", show_default=False)],
    scope: Annotated[
        list[Scope] | None,
        typer.Option("--scope", help="read, write or ops; repeat for several (default: read and write)."),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, max=3650, help="Expire after this many days.")
    ] = None,
) -> None:
    """Create a token and print it once: only its hash is kept."""
    if not name.strip() or len(name) > 200:
        from oppscope.cli.output import CliError

        raise CliError("invalid_input", "--name must be 1 to 200 characters")
    scopes = set(scope or [Scope.read, Scope.write])
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with _tokens(state) as store:
        token, info = store.create(name.strip(), scopes, expires)
    if state.output.json_mode:
        state.output.json({"token": token, **_row(info)})
    else:
        typer.echo(token)
        state.output.notice(f"token {info.id} ({', '.join(sorted(info.scopes))}) created; it is not shown again")


@app.command("list")
@with_state()
def list_tokens(state: CliState) -> None:
    """Every token with its scopes and state; the tokens themselves cannot be shown."""
    with _tokens(state) as store:
        rows = [_row(info) for info in store.list()]
    if state.output.json_mode:
        state.output.json(rows)
        return
    state.output.table(
        "API tokens",
        ("id", "name", "scopes", "created", "last used", "state"),
        [
            (
                r["id"],
                r["name"],
                ",".join(r["scopes"]),
                r["created_at"][:19],
                (r["last_used_at"] or "")[:16],
                "active" if r["active"] else ("revoked" if r["revoked_at"] else "expired"),
            )
            for r in rows
        ],
    )


@app.command("revoke")
@with_state()
def revoke(
    state: CliState,
    token_id: Annotated[str, typer.Argument(help="The token's id (from `tokens list`).", show_default=False)],
) -> None:
    """Revoke a token at once: its next request is refused with 401."""
    with _tokens(state) as store:
        info = store.revoke(token_id)
    if state.output.json_mode:
        state.output.json(_row(info))
    else:
        typer.echo(f"token {info.id} revoked at {info.revoked_at}")
