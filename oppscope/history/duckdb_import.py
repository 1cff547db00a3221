"""Staging and validating an import inside the DuckDB file that will become the next snapshot.

Input is staged into a temporary table with DuckDB's own readers and validated in one vectorised SQL pass
(no Python loop per row: checking 100k full rows takes about a second). Nothing here decides whether the
result is committed; ``duckdb_store`` does, and switches snapshots only when this finds rows worth keeping.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Final, Literal

import duckdb

from oppscope.history import schema
from oppscope.history.schema import literal, quote
from oppscope.history.sql import ID_COLUMN
from oppscope.history.store import HistoryError, ImportFormat, RowError

META_TABLE: Final = "_oppscope_meta"
EMPTY_SNAPSHOT: Final = "empty"
MAX_ERRORS: Final = 1000
MAX_TEXT_CHARS: Final = 20_000
REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("customer_name", "close_date")
# Keeps a report readable when the offending value is a 20k-character description.
_MAX_REPORTED_VALUE: Final = 200

_MONEY_COLUMNS: Final[frozenset[str]] = frozenset(n for n, t in schema.COLUMNS if t == "DOUBLE")
_DATE_COLUMNS: Final[frozenset[str]] = frozenset({"planned_delivery_start_date", "planned_delivery_end_date"})
_NAME_COLUMNS: Final[tuple[str, ...]] = ("customer_name", "opportunity_name", "partner_name")
_CLOSE_MIN: Final = int(datetime.combine(schema.CLOSE_DATE_START, time(), UTC).timestamp())
_CLOSE_END: Final = int(datetime.combine(schema.CLOSE_DATE_END, time(), UTC).timestamp())
_OUTSIDE_CLOSE_RANGE: Final = f"outside {schema.CLOSE_DATE_START.year}-{schema.CLOSE_DATE_END.year - 1}"
# Accepted, but worth a warning: a close date this far from today, or an ARR above this, is rarely meant.
_PLAUSIBLE_YEARS: Final = 15
_PLAUSIBLE_ARR: Final = 1e9
ORDER_BY: Final = f"close_date, {quote(ID_COLUMN)}, rowid"

_STAGE: Final = "_oppscope_stage"
_ROWS: Final = "_oppscope_rows"
_CHECKED: Final = "_oppscope_checked"
_ID_INDEX: Final = schema.COLUMN_NAMES.index(ID_COLUMN)


@dataclass(frozen=True)
class Staged:
    """A file or row batch loaded into the staging table, before validation."""

    source: str
    fmt: ImportFormat | Literal["rows"]
    # Schema column name -> SQL expression yielding that column as VARCHAR from the staging table.
    present: dict[str, str]
    unknown: list[str]
    # Rows the CSV reader could not split into the header's columns: they never reach the staging table.
    malformed: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class Checked:
    """The validated staging table: counts, what to report, and nothing committed yet."""

    rows_read: int
    bad: int
    errors: list[RowError]
    errors_truncated: bool
    warnings: list[RowError]
    warnings_truncated: bool
    duplicates: int  # rows whose id came again (dropped or superseding an existing row with ``dedupe``)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    if not table_exists(con, schema.TABLE):
        con.execute(schema.create_table_sql())
    if not table_exists(con, META_TABLE):
        con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main' "
        "AND table_catalog = current_database()",
        [name],
    ).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Content:
    """A digest of the table's rows as a multiset: each row's md5 split in two 64-bit halves, summed.

    Sums add up, so an append costs the new rows only (re-hashing a million rows took half a minute), and the
    id depends on the rows alone, not on their order or on how they arrived (CSV or Parquet, one file or two).
    """

    rows: int = 0
    upper: int = 0
    lower: int = 0

    def __add__(self, other: Content) -> Content:
        return Content(self.rows + other.rows, self.upper + other.upper, self.lower + other.lower)

    def __sub__(self, other: Content) -> Content:
        return Content(self.rows - other.rows, self.upper - other.upper, self.lower - other.lower)

    def encode(self) -> str:
        return f"{self.rows}:{self.upper}:{self.lower}"

    @classmethod
    def decode(cls, text: str) -> Content:
        rows, upper, lower = (int(part) for part in text.split(":"))
        return cls(rows, upper, lower)

    def snapshot_id(self) -> str:
        if not self.rows:
            return EMPTY_SNAPSHOT
        return hashlib.sha256(f"history-v2:{self.encode()}".encode()).hexdigest()[:16]


def content_of(con: duckdb.DuckDBPyConnection, source: str, values: Sequence[str], where: str = "true") -> Content:
    """The digest of the rows of ``source`` matching ``where``; ``values`` name its columns in schema order
    (the table's own, or the checked table's ``v{i}``, which have the same types and so the same JSON text)."""
    row = con.execute(
        "SELECT count(*), coalesce(sum(CAST(m >> 64 AS UBIGINT)::HUGEINT), 0), "
        "coalesce(sum(CAST(m & 18446744073709551615 AS UBIGINT)::HUGEINT), 0) "
        f"FROM (SELECT md5_number(CAST(json_array({', '.join(values)}) AS VARCHAR)) AS m FROM {source} WHERE {where})"
    ).fetchone()
    return Content() if row is None else Content(int(row[0]), int(row[1]), int(row[2]))


def table_content(con: duckdb.DuckDBPyConnection, where: str = "true") -> Content:
    return content_of(con, quote(schema.TABLE), [quote(c) for c in schema.COLUMN_NAMES], where)


def stored_content(con: duckdb.DuckDBPyConnection) -> Content:
    """The digest kept in the metadata, or computed once for a table written before it was kept."""
    if table_exists(con, META_TABLE):
        row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'content'").fetchone()
        if row is not None:
            return Content.decode(str(row[0]))
    return table_content(con)


# -- staging -------------------------------------------------------------------------------------------


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, fmt: ImportFormat) -> Staged:
    src = literal(str(path))
    malformed: list[RowError] = []
    if fmt == "csv":
        # Strict parsing with rejects stored: a ragged row is reported as that row, instead of the sniffer
        # giving up on the dialect and reading the whole file as one column.
        _create_stage(
            con, f"read_csv({src}, all_varchar=true, header=true, strict_mode=true, store_rejects=true)", path, fmt
        )
        malformed = _csv_rejects(con)
    elif fmt == "parquet":
        _create_stage(con, f"read_parquet({src})", path, fmt)
    else:
        # A ``.json`` export is often one array rather than lines; 'auto' takes both. A full-file sample
        # keeps type inference from failing on a late row whose type differs from the first ones.
        layout = "auto" if path.suffix.lower() == ".json" else "newline_delimited"
        _create_stage(con, f"read_json({src}, format='{layout}', sample_size=-1)", path, fmt)
    _number_rows(con, malformed)
    present, unknown = _classify_stage_columns(con)
    return Staged(str(path), fmt, present, unknown, malformed)


def stage_jsonl_strings(con: duckdb.DuckDBPyConnection, path: Path, keys: Sequence[str]) -> Staged:
    """Stage a JSON Lines file written by ``insert_rows`` (every value a string), reading each key as text."""
    columns = "{" + ", ".join(f"{literal(k)}: 'VARCHAR'" for k in keys) + "}"
    _create_stage(con, f"read_json({literal(str(path))}, format='newline_delimited', columns={columns})", path, "jsonl")
    _number_rows(con, [])
    present, unknown = _classify_stage_columns(con)
    return Staged("rows", "rows", present, unknown)


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP VIEW IF EXISTS temp.{_ROWS}")
    for table in (_STAGE, _CHECKED, "_oppscope_rowmap"):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _create_stage(con: duckdb.DuckDBPyConnection, reader: str, path: Path, fmt: ImportFormat) -> None:
    drop_temp(con)
    try:
        # The staging table's rowid follows file order (insertion order is preserved).
        con.execute(f"CREATE TEMP TABLE {_STAGE} AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        drop_temp(con)
        raise _unreadable(path, fmt, exc) from exc


def _unreadable(path: Path, fmt: ImportFormat, exc: duckdb.Error) -> HistoryError:
    """Name the line and the problem; DuckDB's own text quotes our staging statement, which means nothing here."""
    if fmt == "jsonl" and path.suffix.lower() != ".json":
        broken = _broken_json_lines(path)
        if broken:
            line, reason = broken[0]
            return HistoryError(
                "unreadable_file",
                f"{path.name} line {line} is not valid JSON: {reason}"
                + (f" (and {len(broken) - 1} more broken line(s))" if len(broken) > 1 else ""),
                {"path": str(path), "lines": [{"line": n, "reason": r} for n, r in broken]},
            )
    reason = str(exc).split("\nLINE ", 1)[0].strip()
    for prefix in ("Invalid Input Error: ", "IO Error: ", "Conversion Error: ", "Binder Error: "):
        reason = reason.removeprefix(prefix)
    return HistoryError(
        "unreadable_file", f"Cannot read {path.name} as {fmt}: {reason}", {"path": str(path), "format": fmt}
    )


def _broken_json_lines(path: Path) -> list[tuple[int, str]]:
    """Only run once DuckDB refused the file, so the common case never pays for a Python pass."""
    broken: list[tuple[int, str]] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                broken.append((number, str(exc).split(": line ", 1)[0]))
            else:
                if not isinstance(value, dict):
                    broken.append((number, f"a JSON {type(value).__name__}, not an object"))
            if len(broken) >= MAX_ERRORS:
                break
    return broken


def _csv_rejects(con: duckdb.DuckDBPyConnection) -> list[RowError]:
    """Rows DuckDB's strict CSV reader set aside; its ``line`` counts records with the header as 1."""
    rows = con.execute(
        "SELECT line - 1, any_value(column_name ORDER BY column_idx), any_value(error_message ORDER BY column_idx), "
        "any_value(csv_line ORDER BY column_idx) FROM reject_errors GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute("DROP TABLE IF EXISTS temp.reject_errors")
    con.execute("DROP TABLE IF EXISTS temp.reject_scans")
    return [
        RowError(
            row=int(row),
            column=None if column is None else str(column),
            reason=_csv_reason(str(message)),
            value=clip(line),
        )
        for row, column, message, line in rows
    ]


def _csv_reason(message: str) -> str:
    if message.startswith("Expected Number of Columns"):
        return "wrong number of fields: " + message.replace("Expected Number of Columns: ", "expected ").replace(
            " Found: ", ", found "
        )
    return message.split("\n", 1)[0]


def _number_rows(con: duckdb.DuckDBPyConnection, malformed: Sequence[RowError]) -> None:
    """A view of the staging table with ``__row``, the 1-based data row number in the file.

    Rows the CSV reader set aside leave gaps in the staging table's rowids, so the staged rows are then
    matched, in order, to the row numbers that remain.
    """
    if not malformed:
        con.execute(f"CREATE TEMP VIEW {_ROWS} AS SELECT rowid + 1 AS __row, * FROM {_STAGE}")
        return
    (staged,) = _one(con, f"SELECT count(*) FROM {_STAGE}")
    skipped = ", ".join(str(e.row) for e in malformed)
    con.execute(
        "CREATE TEMP TABLE _oppscope_rowmap AS SELECT row_number() OVER (ORDER BY r) - 1 AS k, r FROM "
        f"range(1, {int(staged) + len(malformed) + 1}) t(r) WHERE r NOT IN ({skipped})"
    )
    con.execute(
        f"CREATE TEMP VIEW {_ROWS} AS SELECT m.r AS __row, s.* FROM {_STAGE} s JOIN _oppscope_rowmap m ON s.rowid = m.k"
    )


def _classify_stage_columns(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], list[str]]:
    """Map staged columns onto the schema by name (trimmed, case-insensitive, as DuckDB compares)."""
    by_key = {name.lower(): name for name in schema.COLUMN_NAMES}
    present: dict[str, str] = {}
    unknown: list[str] = []
    for name, col_type, *_ in con.execute(f"DESCRIBE {_STAGE}").fetchall():
        target = by_key.get(str(name).strip().lower())
        if target is None or target in present:
            unknown.append(str(name))
            continue
        ref = quote(str(name))
        # JSON-typed values would otherwise keep their quotes when cast to text.
        present[target] = f"({ref} ->> '$')" if col_type == "JSON" else f"CAST({ref} AS VARCHAR)"
    return present, unknown


# -- validation ----------------------------------------------------------------------------------------


def check(con: duckdb.DuckDBPyConnection, staged: Staged, *, appending: bool, dedupe: bool) -> Checked:
    """Validate every staged row into the checked table; duplicate ids are errors unless ``dedupe``."""
    if missing := [c for c in REQUIRED_COLUMNS if c not in staged.present]:
        raise HistoryError(
            "missing_columns",
            f"{Path(staged.source).name} lacks required column(s): {', '.join(missing)}",
            {"missing": missing, "path": staged.source, "columns_found": sorted(staged.present)},
        )
    con.execute(f"CREATE TEMP TABLE {_CHECKED} AS {_checked_sql(staged.present, appending=appending, dedupe=dedupe)}")
    staged_rows, staged_bad, duplicates = _one(
        con, f"SELECT count(*), count(*) FILTER (NOT ok), count(*) FILTER (superseded) FROM {_CHECKED}"
    )
    if appending and dedupe:
        (replaced,) = _one(
            con,
            f"SELECT count(*) FROM {quote(schema.TABLE)} WHERE {quote(ID_COLUMN)} IN "
            f"(SELECT v{_ID_INDEX} FROM {_CHECKED} WHERE ok AND NOT superseded)",
        )
        duplicates += replaced
    errors, truncated = _collect_errors(con, staged)
    warnings = [RowError(row=0, column=name, reason="unknown column, ignored") for name in staged.unknown]
    more, warnings_truncated = _collect_warnings(con, MAX_ERRORS - len(warnings))
    return Checked(
        rows_read=int(staged_rows) + len(staged.malformed),
        bad=int(staged_bad) + len(staged.malformed),
        errors=errors,
        errors_truncated=truncated,
        warnings=[*warnings, *more][:MAX_ERRORS],
        warnings_truncated=warnings_truncated or len(warnings) > MAX_ERRORS,
        duplicates=int(duplicates),
    )


def commit_checked(con: duckdb.DuckDBPyConnection, *, replace: bool, dedupe: bool) -> Content:
    """Write the good rows into the table (in the new snapshot's file, so nobody reads it half done) and
    return the digest of the table's content afterwards."""
    table = quote(schema.TABLE)
    content = Content() if replace else stored_content(con)
    if replace:
        con.execute(f"DELETE FROM {table}")
    elif dedupe:
        new_ids = f"SELECT v{_ID_INDEX} FROM {_CHECKED} WHERE ok AND v{_ID_INDEX} IS NOT NULL"
        superseded = f"{quote(ID_COLUMN)} IN ({new_ids})"
        content -= table_content(con, superseded)
        con.execute(f"DELETE FROM {table} WHERE {superseded}")
    values = [f"v{i}" for i in range(len(schema.COLUMN_NAMES))]
    content += content_of(con, _CHECKED, values, "ok AND NOT superseded")
    con.execute(
        f"INSERT INTO {table} ({schema.column_list()}) SELECT {', '.join(values)} FROM {_CHECKED} "
        "WHERE ok AND NOT superseded ORDER BY __row"
    )
    return content


def _checked_sql(present: Mapping[str, str], *, appending: bool, dedupe: bool) -> str:
    """One row per staged row: its number ``__row``, normalised values ``v{i}``, errors ``e{i}`` and ``ok``.

    Raw text is deliberately not kept: materialising it doubled the validation time, and the few rows that
    end up in a report are looked up in the staging view again. Columns absent from the input read as NULL.
    ``superseded`` marks a row whose id comes again later in the file (``dedupe`` keeps the last one).
    """
    n = len(schema.COLUMN_NAMES)
    raw = ", ".join(
        f"{present.get(name, 'CAST(NULL AS VARCHAR)')} AS r{i}" for i, name in enumerate(schema.COLUMN_NAMES)
    )
    rules = [_column_rules(name, f"r{i}", i) for i, name in enumerate(schema.COLUMN_NAMES)]
    ctes = [f"h0 AS (SELECT __row, {raw} FROM {_ROWS})"]
    for level in range(max(len(rule.helpers) for rule in rules)):
        extra = [h for rule in rules if level < len(rule.helpers) for h in rule.helpers[level]]
        ctes.append(f"h{level + 1} AS (SELECT *, {', '.join(extra)} FROM h{level})")
    checks = ", ".join(f"{rule.value} AS v{i}, {rule.error} AS e{i}" for i, rule in enumerate(rules))
    ctes.append(f"c AS (SELECT __row, {checks} FROM h{len(ctes) - 1})")
    valid = " AND ".join(f"e{i} IS NULL" for i in range(n))
    ctes.append(f"c2 AS (SELECT *, ({valid}) AS valid FROM c)")
    oid = f"v{_ID_INDEX}"
    first = f"min(__row) OVER (PARTITION BY {oid})"
    last_valid = f"max(CASE WHEN valid THEN __row END) OVER (PARTITION BY {oid})"
    existing = f"(SELECT {quote(ID_COLUMN)} FROM {quote(schema.TABLE)} WHERE {quote(ID_COLUMN)} IS NOT NULL)"
    if dedupe:
        duplicate = "CAST(NULL AS VARCHAR)"
        superseded = f"({oid} IS NOT NULL AND valid AND __row < {last_valid})"
    else:
        against = f"WHEN {oid} IN {existing} THEN 'opportunity id already in the history' " if appending else ""
        duplicate = (
            f"CASE WHEN {oid} IS NULL THEN NULL "
            f"WHEN {first} < __row THEN 'duplicate opportunity id (first at row ' || {first} || ')' {against}END"
        )
        superseded = "false"
    ctes.append(f"d AS (SELECT *, {duplicate} AS e_dup, {superseded} AS superseded FROM c2)")
    return "WITH " + ", ".join(ctes) + " SELECT *, (valid AND e_dup IS NULL) AS ok FROM d"


@dataclass(frozen=True)
class _Rule:
    """SQL for one column: helper columns computed in successive steps, then the value and its error."""

    value: str
    error: str
    helpers: tuple[tuple[str, ...], ...] = ()


def _column_rules(name: str, r: str, i: int) -> _Rule:
    too_long = f"WHEN length({r}) > {MAX_TEXT_CHARS} THEN 'longer than {MAX_TEXT_CHARS} characters'"
    if name == "close_date":
        return _close_date_rule(r, i)
    if name in _MONEY_COLUMNS:
        error = (
            f"CASE WHEN m{i} IS NULL THEN NULL WHEN d{i} IS NULL THEN 'not a number' "
            f"WHEN NOT isfinite(d{i}) THEN 'not a finite number' "
            f"WHEN d{i} < 0 THEN 'negative amount' END"
        )
        # Plain numbers take DuckDB's fast cast ("_" excluded: the cast would take "1_000"). Only the rest,
        # e.g. "$1,234.5" as spreadsheets export money, pays for the regex clean-up and strict pattern.
        strip = f"regexp_replace(m{i}, '[\\s$,]', '', 'g')"
        parse = (
            f"CASE WHEN m{i} IS NULL THEN NULL "
            f"WHEN NOT contains(m{i}, '_') AND TRY_CAST(m{i} AS DOUBLE) IS NOT NULL THEN TRY_CAST(m{i} AS DOUBLE) "
            f"WHEN regexp_full_match({strip}, '[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?') "
            f"THEN TRY_CAST({strip} AS DOUBLE) END AS d{i}"
        )
        return _Rule(f"d{i}", error, ((f"NULLIF(trim({r}), '') AS m{i}",), (parse,)))
    if name in _DATE_COLUMNS:
        day = (
            f"CASE WHEN regexp_full_match(t{i}, "
            "'\\d{4}-\\d{2}-\\d{2}([ T]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}(:?\\d{2})?)?)?') "
            f"AND TRY_CAST(left(t{i}, 10) AS DATE) IS NOT NULL THEN left(t{i}, 10) END"
        )
        error = f"CASE WHEN t{i} IS NULL THEN NULL WHEN y{i} IS NULL THEN 'not a YYYY-MM-DD date' END"
        return _Rule(f"y{i}", error, ((f"NULLIF(trim({r}), '') AS t{i}",), (f"{day} AS y{i}",)))
    if name == "customer_name":
        return _Rule(r, f"CASE WHEN {r} IS NULL OR trim({r}) = '' THEN 'required' {too_long} END")
    if name == ID_COLUMN:
        # Blank ids are no ids: they must not count as duplicates of one another.
        return _Rule(f"NULLIF(trim({r}), '')", f"CASE {too_long} END")
    return _Rule(r, f"CASE {too_long} END")


def _close_date_rule(r: str, i: int) -> _Rule:
    """Unix time in s/ms/µs/ns (told apart by digit count) or an ISO date/datetime, as seconds."""
    # Integral values may arrive as '1700000000.0' from a DOUBLE column; the fraction must be zero.
    digits = f"regexp_extract(t{i}, '^\\+?0*(\\d+)(\\.0*)?$', 1) AS g{i}"
    scale = (
        f"CASE WHEN length(g{i}) <= 11 THEN 1 WHEN length(g{i}) <= 14 THEN 1000 "
        f"WHEN length(g{i}) <= 17 THEN 1000000 ELSE 1000000000 END"
    )
    seconds = (
        f"CASE WHEN g{i} <> '' THEN "
        f"CASE WHEN length(g{i}) <= 20 THEN TRY_CAST(g{i} AS HUGEINT) // {scale} END "
        f"WHEN regexp_matches(t{i}, '^\\d{{4}}-\\d{{2}}-\\d{{2}}') "
        f"THEN CAST(floor(epoch(TRY_CAST(t{i} AS TIMESTAMP))) AS HUGEINT) END AS x{i}"
    )
    in_range = f"x{i} >= {_CLOSE_MIN} AND x{i} < {_CLOSE_END}"
    error = (
        f"CASE WHEN t{i} IS NULL THEN 'required' "
        f"WHEN x{i} IS NULL AND g{i} = '' THEN 'not a Unix time or YYYY-MM-DD date' "
        f"WHEN x{i} IS NULL OR NOT ({in_range}) THEN '{_OUTSIDE_CLOSE_RANGE}' END"
    )
    value = f"CASE WHEN {in_range} THEN CAST(x{i} AS BIGINT) END"
    return _Rule(value, error, ((f"NULLIF(trim({r}), '') AS t{i}",), (digits,), (seconds,)))


def _collect_errors(con: duckdb.DuckDBPyConnection, staged: Staged) -> tuple[list[RowError], bool]:
    """Row errors in file order (the CSV reader's malformed rows among them), capped at ``MAX_ERRORS``.

    Every bad row carries at least one error, so the first MAX_ERRORS+1 bad rows hold all errors we can
    report plus the evidence of truncation; only they are joined back to the raw staged text.
    """
    room = MAX_ERRORS
    columns = [(i, n, staged.present.get(n)) for i, n in enumerate(schema.COLUMN_NAMES)]
    parts = [
        f"SELECT __row, {i} AS pos, {literal(name)} AS col, e{i} AS reason, {expr} AS value "
        f"FROM b WHERE e{i} IS NOT NULL"
        for i, name, expr in columns
        if expr is not None
    ]
    id_expr = staged.present.get(ID_COLUMN, "NULL")
    parts.append(
        f"SELECT __row, {len(columns)} AS pos, {literal(ID_COLUMN)}, e_dup, {id_expr} FROM b WHERE e_dup IS NOT NULL"
    )
    found = con.execute(
        f"WITH b AS (SELECT c.*, s.* EXCLUDE (__row) FROM {_CHECKED} c JOIN {_ROWS} s ON s.__row = c.__row "
        f"WHERE c.__row IN (SELECT __row FROM {_CHECKED} WHERE NOT ok ORDER BY __row LIMIT {room + 1})) "
        f"SELECT __row, col, reason, value FROM ({' UNION ALL '.join(parts)}) ORDER BY __row, pos LIMIT {room + 1}"
    ).fetchall()
    errors = [
        RowError(row=int(row), column=str(col), reason=str(reason), value=clip(value))
        for row, col, reason, value in found
    ]
    merged = sorted([*errors, *staged.malformed], key=lambda e: e.row)
    return merged[:room], len(merged) > room


def _collect_warnings(con: duckdb.DuckDBPyConnection, room: int) -> tuple[list[RowError], bool]:
    """Implausible values in rows that will be imported: reported, never refused (they may be right)."""
    close = schema.COLUMN_NAMES.index("close_date")
    arr = schema.COLUMN_NAMES.index("annual_run_rate_usd")
    start = schema.COLUMN_NAMES.index("planned_delivery_start_date")
    end = schema.COLUMN_NAMES.index("planned_delivery_end_date")
    now = int(datetime.now(UTC).timestamp())
    span = int(_PLAUSIBLE_YEARS * 365.25 * 86_400)
    day = f"strftime(to_timestamp(v{close}), '%Y-%m-%d')"
    parts = [
        f"SELECT __row, {close} AS pos, 'close_date' AS col, "
        f"'more than {_PLAUSIBLE_YEARS} years ' || CASE WHEN v{close} > {now} THEN 'ahead' ELSE 'ago' END AS reason, "
        f"{day} AS value FROM {_CHECKED} WHERE ok AND abs(v{close} - {now}) > {span}",
        f"SELECT __row, {arr}, 'annual_run_rate_usd', 'above $1 billion a year', CAST(v{arr} AS VARCHAR) "
        f"FROM {_CHECKED} WHERE ok AND v{arr} > {_PLAUSIBLE_ARR}",
        f"SELECT __row, {end}, 'planned_delivery_end_date', 'before the planned start ' || v{start}, v{end} "
        f"FROM {_CHECKED} WHERE ok AND v{end} < v{start}",
        *(
            f"SELECT __row, {schema.COLUMN_NAMES.index(c)}, {literal(c)}, 'a number, not a name', "
            f"v{schema.COLUMN_NAMES.index(c)} FROM {_CHECKED} WHERE ok AND "
            f"regexp_full_match(trim(v{schema.COLUMN_NAMES.index(c)}), '[\\d\\s.,$+-]+')"
            for c in _NAME_COLUMNS
        ),
    ]
    union = " UNION ALL ".join(parts)
    found = con.execute(
        f"SELECT __row, col, reason, value FROM ({union}) ORDER BY __row, pos LIMIT {max(room, 0) + 1}"
    ).fetchall()
    warnings = [RowError(row=int(r), column=str(c), reason=str(why), value=clip(v)) for r, c, why, v in found]
    return warnings[: max(room, 0)], len(warnings) > room


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    if row is None:  # aggregates always return a row; this guards the type, not a real case
        raise HistoryError("query_failed", f"No result for {sql}")
    return tuple(row)


def clip(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _MAX_REPORTED_VALUE else text[: _MAX_REPORTED_VALUE - 1] + "…"
