"""The values every history backend hands out: import reports, statistics and its one error type.

The protocols themselves are in ``interfaces``; these plain models are kept apart so that callers that only
report or catch (the web layer, the CLI) need not import anything that touches a backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from oppscope.errors import ErrorKind, OppscopeError

ImportFormat = Literal["csv", "parquet", "jsonl"]
OnError = Literal["skip", "reject"]


class RowError(BaseModel):
    """One problem found in one input row (``row`` counts data rows from 1, header excluded)."""

    row: int
    column: str | None = None
    reason: str
    value: str | None = None


class ImportReport(BaseModel):
    """What an import did. ``committed`` is false when it changed nothing (refused, or no row to commit)."""

    source: str
    format: ImportFormat | Literal["rows"]
    rows_read: int
    rows_imported: int
    rows_rejected: int
    replaced: bool
    committed: bool
    snapshot_id: str
    errors: list[RowError] = Field(default_factory=list)
    errors_truncated: bool = False
    # Implausible but accepted values and ignored columns: worth a look, never a reason to refuse.
    warnings: list[RowError] = Field(default_factory=list)
    warnings_truncated: bool = False
    # Rows dropped or superseded because their opportunity id came again (only with ``dedupe``).
    rows_deduplicated: int = 0
    message: str = ""


class NumericSummary(BaseModel):
    min: float | None
    median: float | None
    max: float | None


class HistoryStats(BaseModel):
    rows: int
    snapshot_id: str
    customers: int
    multi_project_customers: int
    close_date_min: str | None
    close_date_max: str | None
    arr_usd: NumericSummary
    segments: dict[str, int]
    industries: dict[str, int]
    countries: dict[str, int]
    project_types: dict[str, int]
    top_services: dict[str, int]


# Failures caused by the file the user pointed at rather than by the store itself.
INPUT_ERROR_CODES = frozenset({"file_not_found", "unknown_format", "missing_columns", "unreadable_file"})


class HistoryError(OppscopeError):
    """A history operation failed in a way the user can act on: a file they gave (``invalid``) or the store
    itself (``unavailable``: missing, locked, empty, not ready; worth retrying in half a minute)."""

    default_kind = ErrorKind.unavailable

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        invalid = code in INPUT_ERROR_CODES
        super().__init__(
            code,
            message,
            details,
            kind=ErrorKind.invalid if invalid else None,
            retry_after=None if invalid else 30,
        )


EXTENSIONS: dict[str, ImportFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def format_for_path(path: Path) -> ImportFormat:
    """The file format its extension names; importers and exporters must agree on this."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise HistoryError(
            "unknown_format",
            f"Cannot tell the format of {path.name}; use .csv, .parquet or .jsonl, or pass the format",
            {"path": str(path), "extensions": sorted(EXTENSIONS)},
        )
    return fmt
