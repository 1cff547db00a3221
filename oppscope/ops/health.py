"""Readiness checks: one per dependency, each timed, none ever raising.

The wiring builds the list (``Services.checks``) from the backends it chose, so ``/health/ready`` and
``oppscope health`` probe the same things, and a new backend adds its check where it is built. A check answers a
result with a ``status``; a failure becomes ``{"status": "error", "error": {code, message}}``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from oppscope.errors import OppscopeError
from oppscope.history.interfaces import HISTORY_BUSY, HistoryReader
from oppscope.state.migrate import require_compatible

Result = dict[str, Any]


@dataclass(frozen=True)
class Check:
    """``probe`` returns a result with a ``status``; the dependency is usable when that status is in ``usable``.
    A ``slow`` check (loading the engine) is left out of ``oppscope health --quick``."""

    name: str
    probe: Callable[[], Result]
    usable: frozenset[str] = frozenset({"ok"})
    slow: bool = False


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, Result]
    failing: list[str]

    @property
    def ready(self) -> bool:
        return not self.failing


def run_checks(checks: Sequence[Check]) -> Readiness:
    results = {check.name: _timed(check.probe) for check in checks}
    failing = [check.name for check in checks if results[check.name]["status"] not in check.usable]
    return Readiness(results, failing)


def _error(exc: Exception) -> dict[str, str]:
    if isinstance(exc, OppscopeError):
        return {"code": exc.code, "message": exc.message}
    return {"code": type(exc).__name__, "message": str(exc)[:300]}


def _timed(probe: Callable[[], Result]) -> Result:
    started = time.perf_counter()
    try:
        result = probe()
    except Exception as exc:  # a health check reports any failure; it must never raise itself
        result = {"status": "error", "error": _error(exc)}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def history_check(open_reader: Callable[[], HistoryReader]) -> Check:
    def probe() -> Result:
        try:
            with open_reader() as reader:
                rows, snapshot = reader.row_count(), reader.snapshot_id()
        except OppscopeError as exc:
            if exc.code != HISTORY_BUSY:
                raise
            # Another process holds the history for a moment; analyses still answer from the engine in memory.
            return {"status": "busy", "error": _error(exc)}
        return {"status": "ok" if rows > 0 else "empty", "rows": rows, "snapshot_id": snapshot}

    return Check("history", probe, usable=frozenset({"ok", "busy"}))


class _Snapshotted(Protocol):
    @property
    def snapshot_id(self) -> str: ...


class _EngineSource(Protocol):
    def loaded(self) -> _Snapshotted: ...


def engine_check(engines: _EngineSource) -> Check:
    """The model in memory: loaded, and for which history snapshot."""
    return Check("analysis_engine", lambda: {"status": "ok", "snapshot_id": engines.loaded().snapshot_id}, slow=True)


def state_check(state: Engine, ping: Callable[[], None]) -> Check:
    """The analysis store's database is at this code's schema revision and the store answers (``ping``)."""

    def probe() -> Result:
        require_compatible(state)
        ping()
        return {"status": "ok"}

    return Check("state_database", probe)


def disk_check(data_dir: Path, min_free_percent: float) -> Check:
    """Free space on the data directory's file system, which holds the history, the state and the models."""

    def probe() -> Result:
        existing = next(p for p in (data_dir.absolute(), *data_dir.absolute().parents) if p.exists())
        usage = shutil.disk_usage(existing)
        free = round(100 * usage.free / usage.total, 2)
        return {
            "status": "ok" if free >= min_free_percent else "low",
            "free_percent": free,
            "free_bytes": usage.free,
            "min_free_percent": min_free_percent,
        }

    return Check("disk", probe)
