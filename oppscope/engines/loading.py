"""Storage around the pure engine: first-run sample, imports, fitting once per model, backtests.

A fitted engine is saved in the model cache keyed by its model id (engine code, history snapshot, settings), so
a restart or a CLI call does not pay for fitting again and every process agrees. A server fits in a child process
(``fit_process``): a fit needs several times the memory of the engine it makes, and a serving worker should not
keep that heap for the rest of its life.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import structlog

from oppscope.analysis.backtest import MAX_QUERIES, BacktestReport, Truth, backtest
from oppscope.analysis.dataset import history_from_fetch
from oppscope.analysis.engine import Engine, EngineConfig, model_id
from oppscope.config import SECRET_FIELDS, Settings
from oppscope.durable import write_atomically
from oppscope.engines.cache import open_model_cache
from oppscope.engines.interfaces import ModelCache, Published
from oppscope.history.factory import open_history_reader, open_history_store
from oppscope.history.interfaces import HistoryReader, HistoryStore
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
    write_atomically(settings.data_dir / SAMPLE_MARKER, json.dumps(marker).encode())
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


def load_engine(settings: Settings, cache: ModelCache | None = None) -> Engine:
    """The fitted engine for the current history snapshot: from the cache when it holds it, else fitted here.

    Only the snapshot id is read to find the cache; the history itself is fetched only when fitting.
    """
    cache = cache or open_model_cache(settings)
    with open_history_store(settings, read_only=settings.history_path.exists()) as store:
        mid = model_id(_snapshot(store), engine_config(settings))
        cached = cache.load(mid)
        if cached is not None:
            return cached
    with cache.fitting(mid):
        # Another process (a second server worker) may have fitted it while this one waited for the lock.
        cached = cache.load(mid)
        return cached if cached is not None else fit_and_save(settings, cache)


def fit_and_save(settings: Settings, cache: ModelCache) -> Engine:
    """Fit the engine for the history as it is now and save it; the caller holds ``cache.fitting``."""
    with open_history_store(settings, read_only=settings.history_path.exists()) as store:
        snapshot = _snapshot(store)
        history = history_from_fetch(store.fetch_columns)
    log.info("fitting engine", rows=history.n, snapshot=snapshot)
    engine = Engine.fit(history, snapshot, engine_config(settings))
    # Computed once here and saved with the engine: counted over a million mapped rows, every worker would
    # otherwise pay seconds for it on its first form after each switch.
    _ = engine.form_vocabulary
    cache.save(engine)
    return engine


def ensure_published(
    settings: Settings, cache: ModelCache, open_reader: Callable[[], HistoryReader] | None = None
) -> Published:
    """Make the model for the current history the published one, fitting it first (in a child process) if no
    process has. Every serving process calls this when its history check is due; the fit lock makes one of them
    fit and the others find the saved model when they get the lock.
    """
    with (open_reader or _reader(settings))() as store:
        snapshot = _snapshot(store)
    wanted = Published(model_id(snapshot, engine_config(settings)), snapshot)
    if cache.published() == wanted:
        return wanted
    if not cache.contains(wanted.model_id):
        with cache.fitting(wanted.model_id):
            if not cache.contains(wanted.model_id):
                fitted = fit_in_child(settings)
                if fitted != wanted:  # the history changed again meanwhile: publish what was fitted
                    log.info("history changed while fitting", fitted=fitted.snapshot_id, seen=snapshot)
                    wanted = fitted
    previous = cache.published()
    if previous != wanted:
        cache.publish(wanted)
        log.info("published model", model_id=wanted.model_id, snapshot=wanted.snapshot_id)
        # The previous model stays on disk for workers still switching away from it; older ones go.
        cache.prune({wanted.model_id, *([previous.model_id] if previous else [])})
    return wanted


def fit_in_child(settings: Settings) -> Published:
    """Fit and save in a fresh interpreter (``fit_process``), which hands back what it fitted."""
    done = subprocess.run(
        [sys.executable, "-m", "oppscope.engines.fit_process"],
        input=settings.model_dump_json(exclude=set(SECRET_FIELDS)),  # fitting needs no credential
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stdout.strip().splitlines()
        try:
            error = json.loads(lines[-1])["error"]
        except (IndexError, ValueError, KeyError, TypeError):
            raise HistoryError("fit_failed", "fitting the engine failed", {"stderr": done.stderr[-2000:]}) from None
        raise HistoryError(error["code"], error["message"], error.get("details"))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Published(result["model_id"], result["snapshot_id"])


def _reader(settings: Settings) -> Callable[[], HistoryReader]:
    return lambda: open_history_reader(settings)


def _snapshot(store: HistoryReader) -> str:
    if store.row_count() == 0:
        raise HistoryError(
            "history_empty",
            "The history is empty: import one with `oppscope history import FILE` "
            "or load the sample with `oppscope history sample`.",
        )
    return store.snapshot_id()


def run_backtest(settings: Settings, test_fraction: float = 0.2, max_queries: int = MAX_QUERIES) -> BacktestReport:
    """Backtest the loaded history; with the generated sample loaded, also report the best achievable."""
    with open_history_store(settings, read_only=True) as store:
        history = history_from_fetch(store.fetch_columns)
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
