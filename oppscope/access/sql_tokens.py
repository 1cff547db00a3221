"""Tokens in the state database, stored as SHA-256 digests so a copy of the database reveals none of them.

The id finds the row in one indexed lookup; the secret (256 random bits, so a plain digest is enough; no
password-stretching needed) is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Set
from datetime import datetime

from sqlalchemy import Engine, select, update

from oppscope.access.interfaces import PREFIX, Principal, TokenError, TokenInfo
from oppscope.access.scopes import Scope
from oppscope.errors import ErrorKind
from oppscope.state.db import iso_utc, utc_now
from oppscope.state.tables import api_tokens


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlTokenStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, scopes: Set[Scope], expires_at: datetime | None = None) -> tuple[str, TokenInfo]:
        """A new token; the plain text is returned once and never stored."""
        if not scopes:
            raise TokenError("no_scopes", "a token needs at least one scope", kind=ErrorKind.invalid)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        row = {
            "id": token_id,
            "name": name,
            "secret_sha256": _digest(secret),
            "scopes": ",".join(sorted(scopes)),
            "created_at": utc_now(),
            "expires_at": iso_utc(expires_at) if expires_at else None,
        }
        with self._engine.begin() as connection:
            connection.execute(api_tokens.insert().values(**row))
        info = self.get(token_id)
        assert info is not None
        return f"{PREFIX}_{token_id}_{secret}", info

    def get(self, token_id: str) -> TokenInfo | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return None if row is None else _info(row._asdict())

    def list(self) -> list[TokenInfo]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(api_tokens).order_by(api_tokens.c.created_at)).all()
        return [_info(row._asdict()) for row in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        with self._engine.begin() as connection:
            done = connection.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
        info = self.get(token_id)
        if info is None:
            raise TokenError("token_not_found", f"no token with id {token_id!r}", kind=ErrorKind.not_found)
        if done.rowcount == 0:
            raise TokenError(
                "token_already_revoked",
                f"token {token_id!r} was revoked at {info.revoked_at}",
                kind=ErrorKind.conflict,
            )
        return info

    def authenticate(self, token: str) -> Principal:
        """The principal for a presented token; any failure is the same vague answer, to leak nothing."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise TokenError("invalid_token", "the bearer token is not valid")
        with self._engine.connect() as connection:
            row = connection.execute(select(api_tokens).where(api_tokens.c.id == parts[1])).first()
        if row is None or not hmac.compare_digest(row.secret_sha256, _digest(parts[2])):
            raise TokenError("invalid_token", "the bearer token is not valid")
        info = _info(row._asdict())
        if not info.active:
            raise TokenError("invalid_token", "the bearer token is revoked or expired")
        self._record_use(info)
        return Principal(f"token:{info.id}", info.scopes)

    def _record_use(self, info: TokenInfo) -> None:
        """Keep ``last_used_at`` to the minute: exact enough for `tokens list`, and one write a minute at most."""
        now = utc_now()
        if info.last_used_at is not None and info.last_used_at[:16] == now[:16]:
            return
        with self._engine.begin() as connection:
            connection.execute(update(api_tokens).where(api_tokens.c.id == info.id).values(last_used_at=now))


def _info(row: dict[str, str | None]) -> TokenInfo:
    return TokenInfo(
        id=str(row["id"]),
        name=str(row["name"]),
        scopes=frozenset(Scope(s) for s in str(row["scopes"]).split(",") if s),
        created_at=str(row["created_at"]),
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )
