"""What a token may do. Its own module, free of SQLAlchemy, so the CLI can offer the scopes as choices without
loading the database layer for ``--help``."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    read = "read"
    write = "write"
    ops = "ops"
