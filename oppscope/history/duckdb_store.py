"""The embedded history backend: one DuckDB file per snapshot, and ``history.duckdb`` naming the current one.

DuckDB admits one writing process per file, so an import that wrote into the file the server reads would
have to wait for a gap between reads, and under steady reads it never came. Instead every import builds a
complete new file (the previous rows copied in, the file's rows validated and added), and only then makes
it current by replacing the symlink ``history.duckdb`` atomically (``os.replace``). Readers resolve the
link once and open that file read-only, so they never hold a lock a writer needs; a reader opened before
the switch keeps its snapshot to the end. The previous snapshots stay beside it for ``rollback`` (the last
``keep``), older ones are pruned. A data directory whose ``history.duckdb`` is still a plain file (from
before snapshots) is migrated on the first write: the file is hard-linked in as the first snapshot.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, ParamSpec, Self, TypeVar

import duckdb
import numpy as np
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from oppscope.durable import fsync_path, write_atomically
from oppscope.history import duckdb_import as imp
from oppscope.history import schema
from oppscope.history.duckdb_import import EMPTY_SNAPSHOT, META_TABLE, ORDER_BY
from oppscope.history.interfaces import HISTORY_BUSY, HISTORY_MISSING, HISTORY_UNAVAILABLE
from oppscope.history.schema import quote
from oppscope.history.sql import ROW_COLUMNS, rows_by_id_sql
from oppscope.history.store import (
    HistoryError,
    HistoryStats,
    ImportFormat,
    ImportReport,
    NumericSummary,
    OnError,
    format_for_path,
)

# How long an open waits for another process's conflicting lock (only a foreign tool holding a snapshot
# file for writing can cause one now: imports never write a file anybody reads).
LOCK_WAIT_SECONDS: Final = 2.0
KEEP_SNAPSHOTS: Final = 3
_Stage = Callable[[duckdb.DuckDBPyConnection], "imp.Staged"]
P = ParamSpec("P")
R = TypeVar("R")
_TOP_SERVICES: Final = 20
_VOCABULARY: Final[dict[str, str]] = {
    "industries": "industry",
    "customer_segments": "customer_segment",
    "countries": "country",
    "regions": "opportunity_region",
    "partners": "partner_name",
    "activities": "activity_name",
    "migration_phases": "migration_phase",
}


def _is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB reports another process' lock as an IO error whose text names the lock; nothing else says so."""
    return isinstance(exc, duckdb.IOException | duckdb.ConnectionException) and "lock" in str(exc).lower()


def _reason(exc: duckdb.Error) -> str:
    return str(exc).split("\nLINE ", 1)[0].strip()


@retry(
    retry=retry_if_exception(_is_lock_conflict),
    stop=stop_after_delay(LOCK_WAIT_SECONDS),
    wait=wait_exponential(multiplier=0.02, max=0.5),
    reraise=True,
)
def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=read_only)


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection, with DuckDB's failures turned into our codes (callers never see DuckDB's errors)."""
    try:
        return _connect(path, read_only)
    except duckdb.Error as exc:
        if read_only and not path.exists():
            raise HistoryError(HISTORY_MISSING, f"No history database at {path}", {"path": str(path)}) from exc
        if _is_lock_conflict(exc):
            raise HistoryError(
                HISTORY_BUSY,
                f"The history database {path} is held by another process; try again shortly",
                {"path": str(path), "reason": _reason(exc)},
            ) from exc
        raise HistoryError(
            HISTORY_UNAVAILABLE, f"Cannot open history database {path}: {_reason(exc)}", {"path": str(path)}
        ) from exc


def _reading(method: Callable[P, R]) -> Callable[P, R]:
    """A read that fails inside DuckDB (a damaged or vanished file) is ``history_unavailable``, not DuckDB's."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except duckdb.Error as exc:
            raise HistoryError(HISTORY_UNAVAILABLE, f"Cannot read the history: {_reason(exc)}") from exc

    return wrapper


@dataclass(frozen=True)
class Compaction:
    """What ``compact`` did: the snapshot it rewrote, its size before and after (bytes), the tables checked."""

    snapshot_id: str
    bytes_before: int
    bytes_after: int
    tables: int


class SnapshotFiles:
    """Where the snapshots live: ``<link>`` (the current one), ``<stem>.snapshots/`` with the files, a log of
    snapshot ids in the order they became current, and the writers' lock."""

    def __init__(self, link: Path, keep: int = KEEP_SNAPSHOTS) -> None:
        self.link = Path(link)
        self.dir = self.link.with_name(f"{self.link.stem}.snapshots")
        self.keep = max(2, keep)
        self._log = self.dir / "snapshots.json"

    def current(self) -> Path | None:
        """The current snapshot's file, resolved once (a legacy plain file is its own snapshot)."""
        if self.link.is_symlink():
            return self.dir / self.link.readlink().name
        return self.link if self.link.exists() else None

    def file_for(self, snapshot: str) -> Path:
        return self.dir / f"{snapshot}.duckdb"

    def log(self) -> list[str]:
        try:
            data = json.loads(self._log.read_text())
        except (OSError, ValueError):
            return []
        return [str(s) for s in data] if isinstance(data, list) else []

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time; a second import waits for the first and then builds on its result."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".writer.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._adopt_legacy()
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def build_path(self) -> Path:
        return self.dir / f".build-{uuid.uuid4().hex}.duckdb"

    def publish(self, build: Path, snapshot: str) -> None:
        """Make ``build`` the current snapshot: rename it into place, then swap the link atomically."""
        target = self.file_for(snapshot)
        if target.exists():  # the same content is kept already (a re-import of a rolled-back snapshot)
            discard(build)
        else:
            build.replace(target)
        self.switch(snapshot)

    def switch(self, snapshot: str, *, log: list[str] | None = None) -> None:
        tmp = self.dir / f".link-{uuid.uuid4().hex}"
        tmp.symlink_to(f"{self.dir.name}/{snapshot}.duckdb")
        tmp.replace(self.link)
        fsync_path(self.link.parent)
        entries = [s for s in (self.log() if log is None else log) if s != snapshot] + [snapshot]
        self._write_log(entries)

    def prune(self) -> None:
        """Keep the last ``keep`` snapshots; drop the rest and any build a crashed import left behind."""
        entries = self.log()
        kept = set(entries[-self.keep :])
        current = self.current()
        if current is not None:  # whatever the log says, the file the link names is never deleted
            kept.add(current.name.split(".duckdb", 1)[0])
        for path in self.dir.glob("*.duckdb*"):
            name = path.name.split(".duckdb", 1)[0]
            if name.startswith(".build-") or name not in kept:
                path.unlink(missing_ok=True)
        for leftover in (*self.dir.glob(".link-*"), *self.dir.glob(f".{self._log.name}.*.tmp")):
            leftover.unlink(missing_ok=True)
        self._write_log(entries[-self.keep :])

    def _adopt_legacy(self) -> None:
        """A plain ``history.duckdb`` becomes the first snapshot by a hard link (no copy, no lost rows)."""
        if not self.link.exists() or self.link.is_symlink():
            return
        with DuckDBHistoryReader(self.link) as reader:
            snapshot = reader.snapshot_id()
        target = self.file_for(snapshot)
        for suffix in ("", ".wal"):
            source = Path(f"{self.link}{suffix}")
            if source.exists() and not Path(f"{target}{suffix}").exists():
                try:
                    os.link(source, f"{target}{suffix}")
                except OSError:
                    shutil.copy2(source, f"{target}{suffix}")
        self.switch(snapshot, log=[])
        Path(f"{self.link}.wal").unlink(missing_ok=True)

    def _write_log(self, entries: list[str]) -> None:
        write_atomically(self._log, json.dumps(entries).encode())


class DuckDBHistoryReader:
    """A read-only view of one snapshot (the current one when opened); see ``HistoryReader``."""

    def __init__(self, path: Path, *, missing_ok: bool = False) -> None:
        self.path = Path(path)
        target = SnapshotFiles(self.path).current()
        if target is None:
            if not missing_ok:
                raise HistoryError(HISTORY_MISSING, f"No history database at {self.path}", {"path": str(path)})
            # Nothing imported yet: an empty table in memory answers every read consistently.
            self._con = duckdb.connect()
            imp.ensure_schema(self._con)
            return
        self._con = _open(target, read_only=True)
        if not imp.table_exists(self._con, schema.TABLE):
            self._con.close()
            raise HistoryError(HISTORY_MISSING, f"{target} has no table {schema.TABLE!r}", {"path": str(target)})

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @_reading
    def snapshot_id(self) -> str:
        if imp.table_exists(self._con, META_TABLE):
            row = self._con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'snapshot_id'").fetchone()
            if row is not None:
                return str(row[0])
        # A table filled by something other than oppscope gets its content-derived id instead of none.
        return imp.table_content(self._con).snapshot_id()

    @_reading
    def row_count(self) -> int:
        (n,) = self._one(f"SELECT count(*) FROM {quote(schema.TABLE)}")
        return int(n)

    @_reading
    def fetch_columns(self, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        names = list(schema.COLUMN_NAMES if columns is None else columns)
        unknown = [c for c in names if c not in schema.COLUMN_TYPES]
        if unknown:
            raise HistoryError("unknown_column", f"Unknown history column(s): {unknown}", {"columns": unknown})
        if not names:
            return {}
        select = ", ".join(f"{quote(c)} AS c{i}" for i, c in enumerate(names))
        raw = self._con.execute(f"SELECT {select} FROM {quote(schema.TABLE)} ORDER BY {ORDER_BY}").fetchnumpy()
        return {name: _plain_array(raw[f"c{i}"], schema.COLUMN_TYPES[name]) for i, name in enumerate(names)}

    def rows_by_id(self, ids: Sequence[str], limit: int) -> list[dict[str, Any]]:
        return [dict(zip(ROW_COLUMNS, row, strict=True)) for row in self.query(rows_by_id_sql(ids, limit))]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._con.execute(sql, list(params)).fetchall()]
        except duckdb.Error as exc:
            raise HistoryError("query_failed", f"History query failed: {_reason(exc)}", {"sql": sql}) from exc

    @_reading
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

    @_reading
    def vocabulary(self) -> dict[str, list[str]]:
        table = quote(schema.TABLE)
        out: dict[str, list[str]] = {}
        for field, column in _VOCABULARY.items():
            rows = self._con.execute(
                f"SELECT v FROM (SELECT trim({quote(column)}) AS v FROM {table}) WHERE v IS NOT NULL AND v <> '' "
                "GROUP BY v ORDER BY count(*) DESC, v"
            ).fetchall()
            out[field] = [str(v) for (v,) in rows]
        return out

    def _one(self, sql: str) -> tuple[Any, ...]:
        row = self._con.execute(sql).fetchone()
        if row is None:  # aggregates always return a row; this guards the type, not a real case
            raise HistoryError("query_failed", f"No result for {sql}")
        return tuple(row)

    def _counts(self, column: str) -> dict[str, int]:
        rows = self._con.execute(
            f"SELECT coalesce({quote(column)}, '(unknown)') AS k, count(*) AS n FROM {quote(schema.TABLE)} "
            "GROUP BY k ORDER BY n DESC, k"
        ).fetchall()
        return {str(k): int(n) for k, n in rows}


class DuckDBHistoryWriter:
    """Imports into a new snapshot file, switched to only when it holds committed rows; see ``HistoryWriter``."""

    def __init__(self, path: Path, *, keep: int = KEEP_SNAPSHOTS) -> None:
        self.path = Path(path)
        self.files = SnapshotFiles(self.path, keep)

    def import_file(
        self,
        path: Path,
        *,
        replace: bool = False,
        on_error: OnError = "reject",
        fmt: ImportFormat | None = None,
        dedupe: bool = False,
    ) -> ImportReport:
        """Validate and load one file; ``rows_imported + rows_rejected + duplicates dropped == rows_read``."""
        path = Path(path)
        if not path.is_file():
            raise HistoryError("file_not_found", f"No such file: {path}", {"path": str(path)})
        fmt = fmt or format_for_path(path)
        return self._write(
            lambda con: imp.stage_file(con, path, fmt), replace=replace, on_error=on_error, dedupe=dedupe
        )

    def insert_rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        replace: bool = False,
        on_error: OnError = "reject",
        dedupe: bool = False,
    ) -> ImportReport:
        """Load Python dicts through the same checks as a file.

        Rows go through a temporary JSON Lines file of strings: DuckDB parses that in bulk far faster than
        ``executemany`` binds parameters, and stringifying first makes dicts validate exactly like a CSV.
        """
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
            return self._write(
                lambda con: imp.stage_jsonl_strings(con, tmp, list(keys)),
                replace=replace,
                on_error=on_error,
                dedupe=dedupe,
            )
        finally:
            tmp.unlink(missing_ok=True)

    def snapshots(self) -> list[str]:
        log = self.files.log()
        if log:
            return log
        current = self.files.current()
        if current is None:
            return []
        with DuckDBHistoryReader(self.path) as reader:
            return [reader.snapshot_id()]

    def rollback(self) -> str:
        with self.files.writing():
            log = self.files.log()
            if len(log) < 2 or not self.files.file_for(log[-2]).exists():
                raise HistoryError(
                    "no_previous_snapshot", "There is no earlier history snapshot to go back to", {"snapshots": log}
                )
            previous = log[-2]
            self.files.switch(previous, log=log[:-1])
            return previous

    def compact(self) -> Compaction:
        """Rewrite the current snapshot into a fresh file (DuckDB's ``COPY FROM DATABASE``) and swap it in under the
        same name: the same rows and snapshot id in fewer blocks (an appending import grows the previous file).

        Safe while servers read, like an import: the snapshot is only read (read-only, which readers allow), the
        copy is checked table by table before it replaces the file atomically, and a reader holding the old file
        keeps it to the end while the next one opens the identical rewritten content."""
        with self.files.writing():
            current = self.files.current()
            if current is None:
                raise HistoryError(HISTORY_MISSING, f"No history at {self.path} to compact")
            before = _size(current)
            build = self.files.build_path()
            try:
                con = duckdb.connect()
                try:
                    con.execute(f"ATTACH {_literal(current)} AS src (READ_ONLY)")
                    con.execute(f"ATTACH {_literal(build)} AS dst")
                    con.execute("COPY FROM DATABASE src TO dst")
                    tables = [
                        str(row[0])
                        for row in con.execute(
                            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' ORDER BY 1"
                        ).fetchall()
                    ]
                    for table in tables:
                        counts = [
                            con.execute(f"SELECT count(*) FROM {db}.{quote(table)}").fetchone() for db in ("src", "dst")
                        ]
                        if counts[0] != counts[1]:
                            raise HistoryError(
                                HISTORY_UNAVAILABLE, f"the compacted copy of {table} differs; the history is unchanged"
                            )
                    row = con.execute(f"SELECT value FROM dst.{META_TABLE} WHERE key = 'snapshot_id'").fetchone()
                    con.execute("DETACH dst")
                finally:
                    con.close()
                build.replace(current)
                fsync_path(current.parent)
            except BaseException:
                discard(build)
                raise
        return Compaction(str(row[0]) if row else EMPTY_SNAPSHOT, before, _size(current), len(tables))

    def _write(self, stage: _Stage, *, replace: bool, on_error: OnError, dedupe: bool) -> ImportReport:
        with self.files.writing():
            current = self.files.current()
            previous = EMPTY_SNAPSHOT
            if current is not None:
                with DuckDBHistoryReader(self.path) as reader:
                    previous = reader.snapshot_id()
            build = self.files.build_path()
            appending = current is not None and not replace
            try:
                if appending and current is not None:
                    _copy_database(current, build)
                report, snapshot = self._build(build, stage, previous, replace, on_error, dedupe, appending)
                if snapshot is None:
                    discard(build)
                    return report
                if snapshot == previous:
                    discard(build)
                else:
                    self.files.publish(build, snapshot)
                    self.files.prune()
                return report
            except BaseException:
                discard(build)
                raise

    def _build(
        self,
        build: Path,
        stage: _Stage,
        previous: str,
        replace: bool,
        on_error: OnError,
        dedupe: bool,
        appending: bool,
    ) -> tuple[ImportReport, str | None]:
        """Stage, check and (if there is anything to commit) write the rows into ``build``."""
        con = _open(build, read_only=False)
        try:
            imp.ensure_schema(con)
            staged: imp.Staged = stage(con)
            checked = imp.check(con, staged, appending=appending, dedupe=dedupe)
            refused = on_error == "reject" and checked.bad > 0
            imported = 0 if refused else _good_rows(con)
            base = {
                "source": staged.source,
                "format": staged.fmt,
                "rows_read": checked.rows_read,
                "errors": checked.errors,
                "errors_truncated": checked.errors_truncated,
                "warnings": checked.warnings,
                "warnings_truncated": checked.warnings_truncated,
            }
            if refused or imported == 0:
                # Nothing to commit, so nothing changes: the current snapshot stays exactly as it was.
                return ImportReport(
                    **base,
                    rows_imported=0,
                    rows_rejected=checked.rows_read if refused else checked.bad,
                    replaced=False,
                    committed=False,
                    snapshot_id=previous,
                    message=_nothing_imported(checked, refused),
                ), None
            content = imp.commit_checked(con, replace=replace, dedupe=dedupe)
            imp.drop_temp(con)
            snapshot = content.snapshot_id()
            con.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('snapshot_id', ?)", [snapshot])
            con.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('content', ?)", [content.encode()])
            con.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('created_at', ?)", [_now()])
            con.execute("CHECKPOINT")
            return ImportReport(
                **base,
                rows_imported=imported,
                rows_rejected=checked.bad,
                replaced=replace,
                committed=True,
                snapshot_id=snapshot,
                rows_deduplicated=checked.duplicates,
                message=f"{imported:,} row(s) imported"
                + (f", {checked.bad:,} bad row(s) skipped" if checked.bad else ""),
            ), snapshot
        finally:
            con.close()


class DuckDBHistoryStore(DuckDBHistoryReader, DuckDBHistoryWriter):
    """Reader and writer together: reads follow the snapshot this store's own writes made current."""

    def __init__(self, path: Path, read_only: bool = False, *, keep: int = KEEP_SNAPSHOTS) -> None:
        DuckDBHistoryReader.__init__(self, path, missing_ok=not read_only)
        DuckDBHistoryWriter.__init__(self, path, keep=keep)
        self.read_only = read_only

    def rollback(self) -> str:
        self._check_writable()
        snapshot = super().rollback()
        self._repin()
        return snapshot

    def _write(self, stage: _Stage, *, replace: bool, on_error: OnError, dedupe: bool) -> ImportReport:
        self._check_writable()
        report = super()._write(stage, replace=replace, on_error=on_error, dedupe=dedupe)
        if report.committed:
            self._repin()
        return report

    def _repin(self) -> None:
        self.close()
        DuckDBHistoryReader.__init__(self, self.path, missing_ok=True)

    def _check_writable(self) -> None:
        if self.read_only:
            raise HistoryError("read_only", f"History {self.path} is open read-only")


# -- plain helpers -------------------------------------------------------------------------------------


def _nothing_imported(checked: imp.Checked, refused: bool) -> str:
    if refused:
        return (
            f"{checked.bad:,} of {checked.rows_read:,} row(s) are bad, so nothing was imported and the history is "
            "unchanged; fix them, or pass --skip-bad-rows to import the good ones"
        )
    if checked.rows_read == 0:
        return "the file holds no data rows; the history is unchanged"
    return "every row was rejected; the history is unchanged"


def _good_rows(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM temp._oppscope_checked WHERE ok AND NOT superseded").fetchone()
    return int(row[0]) if row else 0


def _copy_database(source: Path, target: Path) -> None:
    """The previous snapshot's bytes (and WAL, if an older writer left one) as the start of the next one."""
    shutil.copyfile(source, target)
    wal = Path(f"{source}.wal")
    if wal.exists():
        shutil.copyfile(wal, f"{target}.wal")


def _size(path: Path) -> int:
    return sum(Path(f"{path}{suffix}").stat().st_size for suffix in ("", ".wal") if Path(f"{path}{suffix}").exists())


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def discard(path: Path) -> None:
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
