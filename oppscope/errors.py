"""One error base for every layer, and the one error shape every interface answers with:
``{"error": {"code", "message", "details"}}``.

An ``OppscopeError`` says *what kind* of failure it is (``ErrorKind``), never how to report it: the web layer maps
the kind to an HTTP status and the CLI to an exit code, each in one table, so a history, token or analysis
failure answers alike wherever it surfaces. ``code`` is stable for scripts. Nothing heavy is imported: the CLI
loads this for ``--help``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    """What went wrong, as far as the caller is concerned."""

    malformed = "malformed"  # the request cannot be read as sent (bad JSON, bad header)
    invalid = "invalid"  # well formed, but a value is not acceptable
    not_found = "not_found"
    conflict = "conflict"  # clashes with what exists (a reused idempotency key, a revoked token)
    unauthorized = "unauthorized"  # who is calling is unknown
    forbidden = "forbidden"  # known, but not allowed
    too_large = "too_large"
    rate_limited = "rate_limited"
    unavailable = "unavailable"  # a backend is down, busy or not ready; retrying later may work
    timeout = "timeout"
    internal = "internal"  # a bug


class OppscopeError(Exception):
    """A failure with a stable ``code``; ``kind`` defaults to the class's, ``retry_after`` (seconds) is a hint
    for ``unavailable`` and ``rate_limited``."""

    default_kind: ClassVar[ErrorKind] = ErrorKind.internal

    def __init__(
        self,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        kind: ErrorKind | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.kind = kind or self.default_kind
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's error list as ``{field, message, type}``, without the offending values.

    Values are left out on purpose: they may be long or confidential. FastAPI prefixes body fields with
    ``body``, which says nothing to a caller and is dropped.
    """
    out = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if loc[:1] == ["body"]:
            loc = loc[1:]
        out.append(
            {
                "field": ".".join(str(part) for part in loc) or None,
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def invalid_input_message(count: int) -> str:
    return f"{count} field{'s' if count != 1 else ''} failed validation"
