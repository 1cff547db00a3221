"""Glue between storage and the pure engine: first-run sample, imports, the fitted-engine cache, backtests.

A fitted engine is cached on disk under ``<data_dir>/models`` keyed by its model id (engine code, history
snapshot, settings), so a restart or a CLI call does not pay for fitting again and two processes agree.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from oppscope.analysis.backtest import MAX_QUERIES, BacktestReport, Truth, backtest
from oppscope.analysis.dataset import history_from_columns
from oppscope.analysis.engine import Engine, EngineConfig, model_id
from oppscope.config import Settings
from oppscope.history.factory import open_history_store
from oppscope.history.interfaces import HistoryStore
from oppscope.history.store import HistoryError, ImportFormat, ImportReport, OnError

log = structlog.get_logger(__name__)

SAMPLE_MARKER = "sample.json"


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(
        interval_level=settings.interval_level,
        analog_count=settings.analog_count,
        top_services=settings.top_services,
    )


def load_sample(store: HistoryStore, settings: Settings, rows: int, seed: int, *, replace: bool) -> ImportReport:
    """Load the generated sample and remember which one it is (the backtest uses it as ground truth)."""
    from oppscope.history.sample import generate_sample

    sample = generate_sample(rows, seed)
    report = store.insert_rows(sample.rows, replace=replace)
    marker = {"rows": rows, "seed": seed, "snapshot_id": report.snapshot_id}
    _atomic_write(settings.data_dir / SAMPLE_MARKER, json.dumps(marker).encode())
    return report


def sample_marker(settings: Settings) -> dict[str, int | str] | None:
    path = settings.data_dir / SAMPLE_MARKER
    try:
        data: dict[str, int | str] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def import_history(
    settings: Settings,
    path: Path,
    *,
    replace: bool,
    on_error: OnError,
    fmt: ImportFormat | None,
    dedupe: bool = False,
) -> ImportReport:
    """Import a file. The auto-loaded sample is placeholder data: a first real import replaces it."""
    with open_history_store(settings) as store:
        marker = sample_marker(settings)
        only_sample = marker is not None and marker.get("snapshot_id") == store.snapshot_id()
        report = store.import_file(path, replace=replace or only_sample, on_error=on_error, fmt=fmt, dedupe=dedupe)
        if only_sample and report.committed:
            (settings.data_dir / SAMPLE_MARKER).unlink(missing_ok=True)
        return report


def prepare_history(settings: Settings) -> None:
    """First-run setup: an empty history gets the sample, unless the profile forbids it (production).

    A filled history is only looked at read-only, so this never takes the writer's lock from a running server
    or import.
    """
    if not settings.load_sample_if_empty:
        return
    if settings.history_path.exists():
        with open_history_store(settings, read_only=True) as store:
            if store.row_count() > 0:
                return
    with open_history_store(settings) as store:
        if store.row_count() == 0:
            log.info("loading sample history", rows=settings.sample_rows, seed=settings.sample_seed)
            load_sample(store, settings, settings.sample_rows, settings.sample_seed, replace=False)


def prepared_engine(settings: Settings) -> Engine:
    """The engine over the configured history, loading the sample first on a fresh machine."""
    prepare_history(settings)
    return load_engine(settings)


def load_engine(settings: Settings) -> Engine:
    """The fitted engine for the current history snapshot: from the cache when it holds it, else fitted.

    Only the snapshot id is read to find the cache; the history itself is fetched only when fitting.
    """
    config = engine_config(settings)
    with open_history_store(settings, read_only=settings.history_path.exists()) as store:
        if store.row_count() == 0:
            raise HistoryError(
                "history_empty",
                "The history is empty: import one with `oppscope history import FILE` "
                "or load the sample with `oppscope history sample`.",
            )
        snapshot = store.snapshot_id()
        cache = settings.model_cache_dir / f"engine-{model_id(snapshot, config)}.pkl"
        cached = _cached_engine(cache, snapshot)
        if cached is not None:
            return cached
        history = history_from_columns(store.fetch_columns())
    with _fitting(cache):
        # Another process (a second server worker) may have fitted it while this one waited for the lock.
        cached = _cached_engine(cache, snapshot)
        if cached is not None:
            return cached
        log.info("fitting engine", rows=history.n, snapshot=snapshot)
        engine = Engine.fit(history, snapshot, config)
        _atomic_write(cache, pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL))
    return engine


@contextmanager
def _fitting(cache: Path) -> Iterator[None]:
    """One fit per model across processes: the others wait on the lock file, then read the cache."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    with (cache.parent / f"{cache.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_engine(path: Path, snapshot: str) -> Engine | None:
    if not path.exists():
        return None
    try:
        with path.open("rb") as f:
            engine = pickle.load(f)  # our own file, written atomically by load_engine
    except Exception as exc:  # a cache is only ever a shortcut: anything wrong with it means refit
        log.warning("ignoring unreadable engine cache", path=str(path), error=type(exc).__name__)
        return None
    return engine if isinstance(engine, Engine) and engine.snapshot_id == snapshot else None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_backtest(settings: Settings, test_fraction: float = 0.2, max_queries: int = MAX_QUERIES) -> BacktestReport:
    """Backtest the loaded history; with the generated sample loaded, also report the best achievable."""
    with open_history_store(settings, read_only=True) as store:
        history = history_from_columns(store.fetch_columns())
        truth = _sample_truth(settings, store.snapshot_id())
        return backtest(
            history,
            engine_config(settings),
            test_fraction=test_fraction,
            sql=store.query,
            truth=truth,
            max_queries=max_queries,
        )


def _sample_truth(settings: Settings, snapshot: str) -> Truth | None:
    marker = sample_marker(settings)
    if not marker or marker.get("snapshot_id") != snapshot:
        return None
    from oppscope.history.sample import generate_sample

    sample = generate_sample(int(marker["rows"]), int(marker["seed"]))
    return Truth(
        log_arr={t.opportunity_id: t.log_arr_median for t in sample.truth},
        ttl={t.opportunity_id: t.ttl_months_median for t in sample.truth},
        duration={t.opportunity_id: t.duration_months_median for t in sample.truth},
    )
