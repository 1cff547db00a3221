"""The one error shape every interface answers with: ``{"error": {"code", "message", "details"}}``.

The CLI, the batch output and the HTTP API all build it here, so a script that learned it from one of them
can read the others. Nothing heavy is imported: the CLI loads this for ``--help``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


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
