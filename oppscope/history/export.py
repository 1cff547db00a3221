"""Write history-shaped rows to CSV, Parquet or JSON Lines with DuckDB's writers.

Used by tests, the sample exporter and users who want a file the importer (or Athena) reads back. Column
types follow the values: a column holding only ints becomes BIGINT, only numbers DOUBLE, only dates DATE,
only datetimes TIMESTAMP, anything else VARCHAR, so files can carry typed or deliberately malformed data.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from oppscope.history import schema
from oppscope.history.schema import literal, quote
from oppscope.history.store import ImportFormat

_COPY_OPTIONS: Final[dict[str, str]] = {
    "csv": "FORMAT csv, HEADER true",
    "parquet": "FORMAT parquet",
    "jsonl": "FORMAT json",
}


def write_rows(rows: Sequence[Mapping[str, Any]], path: Path, fmt: ImportFormat) -> None:
    """Write ``rows`` to ``path``; columns are the schema's (in schema order) that appear, then the rest."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    known = [c for c in schema.COLUMN_NAMES if c in keys]
    columns = known + [k for k in keys if k not in schema.COLUMN_TYPES]
    types = {c: _column_type([row.get(c) for row in rows]) for c in columns}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".jsonl", prefix="oppscope-export-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps({c: _jsonable(row.get(c)) for c in columns}))
                fh.write("\n")
        spec = "{" + ", ".join(f"{literal(c)}: '{types[c]}'" for c in columns) + "}"
        select = ", ".join(quote(c) for c in columns)
        with duckdb.connect() as con:
            con.execute(
                f"COPY (SELECT {select} FROM read_json({literal(str(tmp))}, "
                f"format='newline_delimited', columns={spec})) "
                f"TO {literal(str(path))} ({_COPY_OPTIONS[fmt]})"
            )
    finally:
        tmp.unlink(missing_ok=True)


def _column_type(values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "VARCHAR"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "BIGINT"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "DOUBLE"
    if all(isinstance(v, datetime) for v in present):
        return "TIMESTAMP"
    if all(isinstance(v, date) and not isinstance(v, datetime) for v in present):
        return "DATE"
    return "VARCHAR"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
