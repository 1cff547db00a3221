"""The embedded history backend: one DuckDB file holding the table ``parquet`` and a tiny metadata table.

Imports are staged into a temporary table with DuckDB's own readers, validated in one vectorised SQL pass
(no Python loop per row: checking 100k full rows takes about a second), and then written in a single
transaction, so a failed or interrupted import never leaves half a file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

import duckdb
import numpy as np
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from oppscope.history import schema
from oppscope.history.schema import literal, quote
from oppscope.history.store import (
    HistoryError,
    HistoryStats,
    ImportFormat,
    ImportReport,
    NumericSummary,
    OnError,
    RowError,
    format_for_path,
)

META_TABLE: Final = "_oppscope_meta"
EMPTY_SNAPSHOT: Final = "empty"
MAX_ERRORS: Final = 1000
MAX_TEXT_CHARS: Final = 20_000
REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("customer_name", "close_date")
_TOP_SERVICES: Final = 20
# How long an open waits for another process's conflicting lock (a reader during an import, or the reverse).
LOCK_WAIT_SECONDS: Final = 2.0
# Keeps a report readable when the offending value is a 20k-character description.
_MAX_REPORTED_VALUE: Final = 200

_MONEY_COLUMNS: Final[frozenset[str]] = frozenset(n for n, t in schema.COLUMNS if t == "DOUBLE")
_DATE_COLUMNS: Final[frozenset[str]] = frozenset({"planned_delivery_start_date", "planned_delivery_end_date"})
_CLOSE_MIN: Final = int(datetime.combine(schema.CLOSE_DATE_START, time(), UTC).timestamp())
_CLOSE_END: Final = int(datetime.combine(schema.CLOSE_DATE_END, time(), UTC).timestamp())
_OUTSIDE_CLOSE_RANGE: Final = f"outside {schema.CLOSE_DATE_START.year}-{schema.CLOSE_DATE_END.year - 1}"
_ORDER_BY: Final = f"close_date, {quote('opportunity_18_character_oppty_id')}, rowid"

_STAGE: Final = "_oppscope_stage"
_CHECKED: Final = "_oppscope_checked"


@dataclass(frozen=True)
class _Staged:
    """A file or row batch loaded into the staging table, before validation."""

    source: str
    fmt: ImportFormat | Literal["rows"]
    # sha256 of the input bytes: the "imported data" the snapshot id chains on.
    digest: str
    # Schema column name -> SQL expression yielding that column as VARCHAR from the staging table.
    present: dict[str, str]
    unknown: list[str]


@retry(
    retry=retry_if_exception_type((duckdb.IOException, duckdb.ConnectionException)),
    stop=stop_after_delay(LOCK_WAIT_SECONDS),
    wait=wait_exponential(multiplier=0.02, max=0.5),
    reraise=True,
)
def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """DuckDB allows one writing process or many reading ones; a server's short reads (health, snapshot checks)
    and an import meet now and then, so a conflicting lock is waited out for a moment before it is an error."""
    return duckdb.connect(str(path), read_only=read_only)


class DuckDBHistoryStore:
    """History in a local DuckDB file; see ``HistoryStore`` for the contract."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise HistoryError("history_missing", f"No history database at {self.path}", {"path": str(path)})
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = _connect(self.path, read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            raise HistoryError(
                "history_locked",
                f"The history database {self.path} is held by another process (an import?); try again shortly",
                {"path": str(path), "reason": str(exc)},
            ) from exc
        except duckdb.Error as exc:
            raise HistoryError(
                "open_failed", f"Cannot open history database {self.path}: {exc}", {"path": str(path)}
            ) from exc
        if read_only:
            if not self._table_exists(schema.TABLE):
                self._con.close()
                raise HistoryError("history_missing", f"{self.path} has no table {schema.TABLE!r}")
        else:
            self._ensure_schema()

    # -- lifecycle -------------------------------------------------------------------------------------

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBHistoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------------------------------

    def snapshot_id(self) -> str:
        if self._table_exists(META_TABLE):
            row = self._con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'snapshot_id'").fetchone()
            if row is not None:
                return str(row[0])
        return self._adopted_snapshot_id()

    def row_count(self) -> int:
        row = self._con.execute(f"SELECT count(*) FROM {quote(schema.TABLE)}").fetchone()
        return int(row[0]) if row else 0

    def fetch_columns(self, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        names = list(schema.COLUMN_NAMES if columns is None else columns)
        unknown = [c for c in names if c not in schema.COLUMN_TYPES]
        if unknown:
            raise HistoryError("unknown_column", f"Unknown history column(s): {unknown}", {"columns": unknown})
        if not names:
            return {}
        select = ", ".join(f"{quote(c)} AS c{i}" for i, c in enumerate(names))
        raw = self._con.execute(f"SELECT {select} FROM {quote(schema.TABLE)} ORDER BY {_ORDER_BY}").fetchnumpy()
        return {name: _plain_array(raw[f"c{i}"], schema.COLUMN_TYPES[name]) for i, name in enumerate(names)}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` inside a transaction that is always rolled back, so a stray write cannot persist."""
        cur = self._con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                return [tuple(r) for r in cur.execute(sql, list(params)).fetchall()]
            finally:
                cur.execute("ROLLBACK")
        except duckdb.Error as exc:
            raise HistoryError("query_failed", f"History query failed: {exc}", {"sql": sql}) from exc
        finally:
            cur.close()

    def stats(self) -> HistoryStats:
        table = quote(schema.TABLE)
        rows, customers, cmin, cmax, amin, amed, amax = self._one(
            f"SELECT count(*), count(DISTINCT customer_name), min(close_date), max(close_date), "
            f"min(annual_run_rate_usd), median(annual_run_rate_usd), max(annual_run_rate_usd) FROM {table}"
        )
        (multi,) = self._one(
            f"SELECT count(*) FROM (SELECT customer_name FROM {table} WHERE customer_name IS NOT NULL "
            "GROUP BY customer_name HAVING count(*) > 1)"
        )
        slots = " UNION ALL ".join(f"SELECT trim({quote(s)}) AS s FROM {table}" for s in schema.SERVICE_SLOTS)
        services = self._con.execute(
            f"SELECT s, count(*) AS n FROM ({slots}) WHERE s IS NOT NULL AND s <> '' "
            f"GROUP BY s ORDER BY n DESC, s LIMIT {_TOP_SERVICES}"
        ).fetchall()
        return HistoryStats(
            rows=int(rows),
            snapshot_id=self.snapshot_id(),
            customers=int(customers),
            multi_project_customers=int(multi),
            close_date_min=_iso_day(cmin),
            close_date_max=_iso_day(cmax),
            arr_usd=NumericSummary(min=_opt_float(amin), median=_opt_float(amed), max=_opt_float(amax)),
            segments=self._counts("customer_segment"),
            industries=self._counts("industry"),
            countries=self._counts("country"),
            project_types=self._counts("project_type"),
            top_services={str(s): int(n) for s, n in services},
        )

    # -- writes ----------------------------------------------------------------------------------------

    def import_file(
        self,
        path: Path,
        *,
        replace: bool = False,
        on_error: OnError = "skip",
        fmt: ImportFormat | None = None,
    ) -> ImportReport:
        """Validate and load one file; ``rows_imported + rows_rejected == rows_read`` always holds."""
        self._check_writable()
        path = Path(path)
        if not path.is_file():
            raise HistoryError("file_not_found", f"No such file: {path}", {"path": str(path)})
        fmt = fmt or format_for_path(path)
        staged = self._stage_file(path, fmt)
        if missing := [c for c in REQUIRED_COLUMNS if c not in staged.present]:
            self._drop_temp()
            raise HistoryError(
                "missing_columns",
                f"{path.name} lacks required column(s): {', '.join(missing)}",
                {"missing": missing, "path": str(path)},
            )
        return self._validate_and_commit(staged, replace=replace, on_error=on_error)

    def insert_rows(self, rows: Sequence[Mapping[str, Any]], *, replace: bool = False) -> ImportReport:
        """Load Python dicts through the same checks as a file (bad rows skipped and reported).

        Rows go through a temporary JSON Lines file of strings: DuckDB parses that in bulk far faster than
        ``executemany`` binds parameters, and stringifying first makes dicts validate exactly like a CSV.
        """
        self._check_writable()
        keys: dict[str, None] = dict.fromkeys(schema.COLUMN_NAMES)
        for row in rows:
            keys.update(dict.fromkeys(row))
        fd, tmp_name = tempfile.mkstemp(suffix=".jsonl", prefix="oppscope-rows-")
        tmp = Path(tmp_name)
        try:
            encode = json.JSONEncoder().encode
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                # Leaving NULLs out (read_json fills absent keys with NULL) more than halves the write time.
                fh.writelines(
                    encode({k: v if type(v) is str else str(v) for k, v in row.items() if v is not None}) + "\n"
                    for row in rows
                )
            columns = "{" + ", ".join(f"{literal(k)}: 'VARCHAR'" for k in keys) + "}"
            self._create_stage(f"read_json({literal(str(tmp))}, format='newline_delimited', columns={columns})")
            digest = _file_digest(tmp)
        finally:
            tmp.unlink(missing_ok=True)
        present, unknown = self._classify_stage_columns()
        staged = _Staged("rows", "rows", digest, present, unknown)
        return self._validate_and_commit(staged, replace=replace, on_error="skip")

    # -- internals: setup ------------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        if not self._table_exists(schema.TABLE):
            self._con.execute(schema.create_table_sql())
        if not self._table_exists(META_TABLE):
            adopted = self._adopted_snapshot_id()
            self._con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
            self._con.execute(f"INSERT INTO {META_TABLE} VALUES ('snapshot_id', ?)", [adopted])

    def _adopted_snapshot_id(self) -> str:
        """Give a table filled by something other than this class a content-derived id instead of none."""
        if self.row_count() == 0:
            return EMPTY_SNAPSHOT
        (digest,) = self._one(
            f"SELECT sha256(string_agg(md5(CAST(ROW({schema.column_list()}) AS VARCHAR)), '' "
            f"ORDER BY {_ORDER_BY})) FROM {quote(schema.TABLE)}"
        )
        return _next_snapshot("adopted", str(digest), "replace")

    def _table_exists(self, name: str) -> bool:
        (n,) = self._one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main' "
            "AND table_catalog = current_database()",
            [name],
        )
        return bool(n)

    def _check_writable(self) -> None:
        if self.read_only:
            raise HistoryError("read_only", f"History {self.path} is open read-only")

    # -- internals: staging ----------------------------------------------------------------------------

    def _stage_file(self, path: Path, fmt: ImportFormat) -> _Staged:
        src = literal(str(path))
        if fmt == "csv":
            reader = f"read_csv({src}, all_varchar=true, header=true)"
        elif fmt == "parquet":
            reader = f"read_parquet({src})"
        else:
            # A ``.json`` export is often one array rather than lines; 'auto' takes both. A full-file sample
            # keeps type inference from failing on a late row whose type differs from the first ones.
            layout = "auto" if path.suffix.lower() == ".json" else "newline_delimited"
            reader = f"read_json({src}, format='{layout}', sample_size=-1)"
        self._create_stage(reader)
        present, unknown = self._classify_stage_columns()
        return _Staged(str(path), fmt, _file_digest(path), present, unknown)

    def _create_stage(self, reader: str) -> None:
        self._drop_temp()
        try:
            # The staging table's rowid follows file order (insertion order is preserved), which gives the
            # 1-based data row numbers reported to the user.
            self._con.execute(f"CREATE TEMP TABLE {_STAGE} AS SELECT * FROM {reader}")
        except duckdb.Error as exc:
            self._drop_temp()
            raise HistoryError("unreadable_file", f"Cannot read input: {exc}") from exc

    def _classify_stage_columns(self) -> tuple[dict[str, str], list[str]]:
        """Map staged columns onto the schema by name (trimmed, case-insensitive, as DuckDB compares)."""
        by_key = {name.lower(): name for name in schema.COLUMN_NAMES}
        present: dict[str, str] = {}
        unknown: list[str] = []
        described = self._con.execute(f"DESCRIBE {_STAGE}").fetchall()
        for name, col_type, *_ in described:
            target = by_key.get(str(name).strip().lower())
            if target is None or target in present:
                unknown.append(str(name))
                continue
            ref = quote(str(name))
            # JSON-typed values would otherwise keep their quotes when cast to text.
            present[target] = f"({ref} ->> '$')" if col_type == "JSON" else f"CAST({ref} AS VARCHAR)"
        return present, unknown

    def _drop_temp(self) -> None:
        self._con.execute(f"DROP TABLE IF EXISTS temp.{_STAGE}")
        self._con.execute(f"DROP TABLE IF EXISTS temp.{_CHECKED}")

    # -- internals: validation and commit --------------------------------------------------------------

    def _validate_and_commit(self, staged: _Staged, *, replace: bool, on_error: OnError) -> ImportReport:
        try:
            self._con.execute(f"CREATE TEMP TABLE {_CHECKED} AS {_checked_sql(staged.present)}")
            errors, truncated = self._collect_errors(staged)
            (rows_read,) = self._one(f"SELECT count(*) FROM {_CHECKED}")
            (bad,) = self._one(f"SELECT count(*) FROM {_CHECKED} WHERE NOT ok")
            rows_read, bad = int(rows_read), int(bad)
            if on_error == "reject" and bad:
                return ImportReport(
                    source=staged.source,
                    format=staged.fmt,
                    rows_read=rows_read,
                    rows_imported=0,
                    rows_rejected=rows_read,
                    replaced=False,
                    committed=False,
                    snapshot_id=self.snapshot_id(),
                    errors=errors,
                    errors_truncated=truncated,
                )
            snapshot = self._commit(replace=replace, good=rows_read - bad, digest=staged.digest)
            return ImportReport(
                source=staged.source,
                format=staged.fmt,
                rows_read=rows_read,
                rows_imported=rows_read - bad,
                rows_rejected=bad,
                replaced=replace,
                committed=True,
                snapshot_id=snapshot,
                errors=errors,
                errors_truncated=truncated,
            )
        finally:
            self._drop_temp()

    def _commit(self, *, replace: bool, good: int, digest: str) -> str:
        """Write the valid rows in one transaction and chain the snapshot id onto the previous one."""
        previous = self.snapshot_id()
        if not replace and not good:
            return previous
        self._con.execute("BEGIN TRANSACTION")
        try:
            if replace:
                self._con.execute(f"DELETE FROM {quote(schema.TABLE)}")
            self._insert_checked()
            mode = "replace" if replace else "append"
            snapshot = EMPTY_SNAPSHOT if self.row_count() == 0 else _next_snapshot(previous, digest, mode)
            self._con.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('snapshot_id', ?)", [snapshot])
            self._con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self._con.execute("ROLLBACK")
            raise
        return snapshot

    def _insert_checked(self) -> None:
        self._con.execute(
            f"INSERT INTO {quote(schema.TABLE)} ({schema.column_list()}) SELECT {_value_columns()} FROM {_CHECKED} "
            "WHERE ok ORDER BY __row"
        )

    def _collect_errors(self, staged: _Staged) -> tuple[list[RowError], bool]:
        """Unknown-column warnings (row 0) first, then row errors in file order, capped at ``MAX_ERRORS``."""
        errors = [RowError(row=0, column=name, reason="unknown column, ignored (warning)") for name in staged.unknown][
            :MAX_ERRORS
        ]
        room = MAX_ERRORS - len(errors)
        truncated = len(staged.unknown) > MAX_ERRORS
        # Every bad row carries at least one error, so the first room+1 bad rows hold all errors we can
        # report plus the evidence of truncation; only they are joined back to the raw staged text.
        parts = [
            f"SELECT __row, {i} AS pos, {literal(name)} AS col, e{i} AS reason, {expr} AS value FROM b "
            f"WHERE e{i} IS NOT NULL"
            for i, (name, expr) in enumerate((n, staged.present.get(n)) for n in schema.COLUMN_NAMES)
            if expr is not None
        ]
        found = self._con.execute(
            f"WITH b AS (SELECT c.*, s.* FROM {_CHECKED} c JOIN {_STAGE} s ON s.rowid + 1 = c.__row "
            f"WHERE c.__row IN (SELECT __row FROM {_CHECKED} WHERE NOT ok ORDER BY __row LIMIT {room + 1})) "
            f"SELECT __row, col, reason, value FROM ({' UNION ALL '.join(parts)}) "
            f"ORDER BY __row, pos LIMIT {room + 1}"
        ).fetchall()
        truncated = truncated or len(found) > room
        for row, col, reason, value in found[:room]:
            errors.append(RowError(row=int(row), column=str(col), reason=str(reason), value=_clip(value)))
        return errors, truncated

    # -- internals: small helpers ----------------------------------------------------------------------

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self._con.execute(sql, list(params)).fetchone()
        if row is None:  # aggregates always return a row; this guards the type, not a real case
            raise HistoryError("query_failed", f"No result for {sql}")
        return tuple(row)

    def _counts(self, column: str) -> dict[str, int]:
        rows = self._con.execute(
            f"SELECT coalesce({quote(column)}, '(unknown)') AS k, count(*) AS n FROM {quote(schema.TABLE)} "
            "GROUP BY k ORDER BY n DESC, k"
        ).fetchall()
        return {str(k): int(n) for k, n in rows}


# -- SQL generation ------------------------------------------------------------------------------------


def _checked_sql(present: Mapping[str, str]) -> str:
    """One row per staged row: its number ``__row``, normalised values ``v{i}``, errors ``e{i}`` and ``ok``.

    Raw text is deliberately not kept: materialising it doubled the validation time, and the few rows that
    end up in a report are looked up in the staging table again. Columns absent from the input read as NULL.
    """
    n = len(schema.COLUMN_NAMES)
    raw = ", ".join(
        f"{present.get(name, 'CAST(NULL AS VARCHAR)')} AS r{i}" for i, name in enumerate(schema.COLUMN_NAMES)
    )
    rules = [_column_rules(name, f"r{i}", i) for i, name in enumerate(schema.COLUMN_NAMES)]
    ctes = [f"h0 AS (SELECT rowid + 1 AS __row, {raw} FROM {_STAGE})"]
    for level in range(max(len(rule.helpers) for rule in rules)):
        extra = [h for rule in rules if level < len(rule.helpers) for h in rule.helpers[level]]
        ctes.append(f"h{level + 1} AS (SELECT *, {', '.join(extra)} FROM h{level})")
    checks = ", ".join(f"{rule.value} AS v{i}, {rule.error} AS e{i}" for i, rule in enumerate(rules))
    ctes.append(f"c AS (SELECT __row, {checks} FROM h{len(ctes) - 1})")
    all_ok = " AND ".join(f"e{i} IS NULL" for i in range(n))
    return f"WITH {', '.join(ctes)} SELECT *, ({all_ok}) AS ok FROM c"


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


def _value_columns() -> str:
    return ", ".join(f"v{i}" for i in range(len(schema.COLUMN_NAMES)))


# -- plain helpers -------------------------------------------------------------------------------------


def _next_snapshot(previous: str, digest: str, mode: str) -> str:
    return hashlib.sha256(f"{previous}{digest}{mode}".encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _clip(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _MAX_REPORTED_VALUE else text[: _MAX_REPORTED_VALUE - 1] + "…"


def _iso_day(seconds: Any) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d")


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _plain_array(values: Any, col_type: schema.ColumnType) -> np.ndarray:
    """Replace DuckDB's masked arrays by the plain arrays the engine expects (None / NaN for NULL)."""
    if col_type == "DOUBLE":
        return np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)
    if col_type == "BIGINT":
        return np.asarray(np.ma.filled(values), dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        out[:] = values.data
        out[mask] = None
    else:
        out[:] = values
    return out
