"""What every ``TokenStore`` backend must do, run against each one the wiring can build (``token_backend``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oppscope.access.interfaces import PREFIX, TokenError, TokenStore
from oppscope.access.scopes import Scope
from oppscope.config import load_settings
from oppscope.errors import ErrorKind
from oppscope.state.migrate import upgrade
from oppscope.wiring import TOKEN_BACKENDS, open_services
from tests.contract import verify_class


@pytest.fixture(params=TOKEN_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TokenStore]:
    with open_services(load_settings(data_dir=tmp_path, token_backend=request.param)) as services:
        upgrade(services.state)
        yield services.tokens


def test_the_backend_implements_the_protocol(store: TokenStore) -> None:
    verify_class(TokenStore, type(store))


def test_a_created_token_authenticates_with_its_scopes(store: TokenStore) -> None:
    token, info = store.create("crm", {Scope.read, Scope.write})
    assert token.startswith(f"{PREFIX}_{info.id}_")
    assert (info.name, info.scopes, info.active) == ("crm", frozenset({Scope.read, Scope.write}), True)
    principal = store.authenticate(token)
    assert principal.id == f"token:{info.id}"
    assert principal.scopes == frozenset({Scope.read, Scope.write})
    used = store.get(info.id)
    assert used is not None and used.last_used_at is not None


def test_get_and_list(store: TokenStore) -> None:
    _, first = store.create("a", {Scope.read})
    _, second = store.create("b", {Scope.ops})
    assert store.get(first.id) == first
    assert store.get("missing") is None
    assert [t.id for t in store.list()] == [first.id, second.id]


def test_a_token_needs_a_scope(store: TokenStore) -> None:
    with pytest.raises(TokenError) as raised:
        store.create("none", set())
    assert (raised.value.code, raised.value.kind) == ("no_scopes", ErrorKind.invalid)


def test_revoke_refuses_the_token_from_then_on(store: TokenStore) -> None:
    token, info = store.create("gone", {Scope.read})
    revoked = store.revoke(info.id)
    assert revoked.revoked_at is not None and not revoked.active
    with pytest.raises(TokenError) as refused:
        store.authenticate(token)
    assert refused.value.kind is ErrorKind.unauthorized
    with pytest.raises(TokenError) as again:
        store.revoke(info.id)
    assert (again.value.code, again.value.kind) == ("token_already_revoked", ErrorKind.conflict)
    with pytest.raises(TokenError) as unknown:
        store.revoke("missing")
    assert (unknown.value.code, unknown.value.kind) == ("token_not_found", ErrorKind.not_found)


def test_an_expired_token_is_refused(store: TokenStore) -> None:
    token, info = store.create("old", {Scope.read}, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert not info.active
    with pytest.raises(TokenError, match="revoked or expired"):
        store.authenticate(token)


@pytest.mark.parametrize("tamper", ["secret", "id", "prefix", "shape"])
def test_any_wrong_token_gets_the_same_vague_answer(store: TokenStore, tamper: str) -> None:
    token, info = store.create("real", {Scope.read})
    secret = token.split("_", 2)[2]
    wrong = {
        "secret": f"{PREFIX}_{info.id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
        "id": f"{PREFIX}_000000000000_{secret}",
        "prefix": f"xyz_{info.id}_{secret}",
        "shape": "not-a-token",
    }[tamper]
    with pytest.raises(TokenError) as refused:
        store.authenticate(wrong)
    assert (refused.value.code, refused.value.message) == ("invalid_token", "the bearer token is not valid")


def test_only_a_digest_is_stored(store: TokenStore, tmp_path: Path) -> None:
    token, _ = store.create("secret", {Scope.read})
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert token.split("_", 2)[2].encode() not in stored
