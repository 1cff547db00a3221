"""What the rest of oppscope may ask of a token backend, and the values it answers with.

The web layer and the CLI hold a ``TokenStore`` (the SQL one by default, chosen by ``token_backend``); every
backend passes ``tests/access/test_token_store_contract.py``. A token reads ``ops_<id>_<secret>`` whatever the
backend: the id finds the record, the secret is only ever compared as a digest.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from oppscope.access.scopes import Scope
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.state.db import utc_now

PREFIX = "ops"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    scopes: frozenset[Scope]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utc_now())


@dataclass(frozen=True)
class Principal:
    """The caller a request acts for: a token, or ``anonymous`` where the profile leaves the API open."""

    id: str
    scopes: frozenset[Scope]


ANONYMOUS = Principal("anonymous", frozenset(Scope))


class TokenError(OppscopeError):
    """A token that cannot be used as asked; the kind is the caller's to pass (not found, conflict...)."""

    default_kind = ErrorKind.unauthorized


class TokenStore(Protocol):
    """Issued tokens, kept so that a copy of the store reveals none of them."""

    def create(self, name: str, scopes: Set[Scope], expires_at: datetime | None = None) -> tuple[str, TokenInfo]:
        """A new token; the plain text is returned once and never stored. No scope is ``invalid``."""
        ...

    def get(self, token_id: str) -> TokenInfo | None: ...

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first, revoked and expired ones included."""
        ...

    def revoke(self, token_id: str) -> TokenInfo:
        """Refuse the token from now on: ``not_found`` for an unknown id, ``conflict`` when already revoked."""
        ...

    def authenticate(self, token: str) -> Principal:
        """The principal for a presented token; ``unauthorized`` for any failure, alike, to leak nothing."""
        ...
