"""The engine each server worker analyses with, kept on the model the cache publishes.

Two clocks drive it. The history check (every ``history_check_seconds``, in the background, and before a rerun)
reads the history's snapshot id and, when it changed, has the model for it fitted once (in a child process, one
worker fitting while the others wait on the fit lock) and published. The switch check asks the cache which model
is published (a ``stat`` of the pointer file) on every request and once a second on a timer; when it names
another model, the worker maps it and drops the old one. So all workers move to a new snapshot within a second
of its publication even without traffic, and a worker never answers from the old model once it has seen the
new pointer: a request that arrives after any worker answered from the new model finds it published.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Callable

import structlog

from oppscope.analysis.engine import Engine
from oppscope.config import Settings
from oppscope.engines.interfaces import ModelCache
from oppscope.engines.loading import ensure_published
from oppscope.history.interfaces import HistoryReader
from oppscope.history.store import HistoryError

log = structlog.get_logger(__name__)

SWITCH_POLL_SECONDS = 1.0


class EngineHolder:
    """``open_reader`` opens the history to read its snapshot id; ``cache`` is where models are shared."""

    def __init__(self, settings: Settings, open_reader: Callable[[], HistoryReader], cache: ModelCache) -> None:
        self._settings = settings
        self._open_reader = open_reader
        self._cache = cache
        self._engine: Engine | None = None
        self.error: HistoryError | None = None
        self._checked = 0.0
        self._follow_lock = threading.Lock()  # one history check at a time
        self._switch_lock = threading.Lock()  # one model load at a time
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def load(self) -> None:
        """At start-up: the published model for the current history (fitted if needed), then the switch timer.

        A failure is kept for readiness; the timer keeps trying.
        """
        self._follow_history(wait=True)
        self._switch()
        if self._timer is None:
            self._timer = threading.Thread(target=self._poll, name="engine-switch", daemon=True)
            self._timer.start()

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=10)

    def loaded(self) -> Engine:
        """The engine as it is now, without looking at the history; its load failure if there is none."""
        if self._engine is None:
            raise self.error or HistoryError("not_ready", "the analysis engine is not loaded")
        return self._engine

    def current(self, *, refresh: bool = False) -> Engine:
        """The engine to analyse with: the published model, switched to first if it changed.

        ``refresh`` waits for a check of the history first (a rerun must use the current history). Without it a
        due check runs in the background: fitting a new history can take minutes, and no request should wait
        for that while the previous engine can still answer.
        """
        if refresh:
            self._follow_history(wait=True)
        else:
            self._check_history_if_due()
        self._switch()
        return self.loaded()

    def _poll(self) -> None:
        while not self._stop.wait(SWITCH_POLL_SECONDS):
            try:
                self._check_history_if_due()
                self._switch()
            except Exception:  # the timer must outlive any failure; requests still see it through loaded()
                log.exception("engine switch check failed")

    def _check_history_if_due(self) -> None:
        due = time.monotonic() - self._checked >= self._settings.history_check_seconds
        if due and not self._follow_lock.locked():
            self._checked = time.monotonic()
            threading.Thread(target=self._follow_history, kwargs={"wait": False}, daemon=True).start()

    def _follow_history(self, *, wait: bool) -> None:
        if not self._follow_lock.acquire(blocking=wait):
            return  # another thread is already checking
        try:
            self._checked = time.monotonic()
            ensure_published(self._settings, self._cache, self._open_reader)
            self.error = None
        except HistoryError as exc:
            self.error = exc
            log.warning("history unavailable; keeping the loaded engine, if any", code=exc.code, message=exc.message)
        finally:
            self._checked = time.monotonic()
            self._follow_lock.release()

    def _switch(self) -> None:
        published = self._cache.published()
        if published is None or (self._engine is not None and self._engine.model_id == published.model_id):
            return
        with self._switch_lock:
            published = self._cache.published()
            if published is None or (self._engine is not None and self._engine.model_id == published.model_id):
                return  # another thread switched while this one waited
            started = time.perf_counter()
            engine = self._cache.load(published.model_id)
            if engine is None:
                log.warning("published model unavailable; keeping the loaded one", model_id=published.model_id)
                return
            engine.warm()  # while the previous engine still answers
            previous, self._engine, self.error = self._engine, engine, None
            log.info(
                "switched engine",
                model_id=engine.model_id,
                snapshot=engine.snapshot_id,
                load_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        if previous is not None:
            del previous
            _release_memory()


def _release_memory() -> None:
    """Give the old model's heap back to the system, not only to the allocator's free lists.

    Requests still running on the old model keep it alive until they finish; what they free later is returned by
    the next switch. With this, a worker's memory stays flat over switches (``benchmarks/engine.py --switches``).
    """
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


_LIBC_NAME = ctypes.util.find_library("c")
_LIBC = ctypes.CDLL(_LIBC_NAME) if _LIBC_NAME and hasattr(ctypes.CDLL(_LIBC_NAME), "malloc_trim") else None
