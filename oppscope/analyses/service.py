"""Analyses as the web app runs them: the current engine, the store, idempotent creation and reruns.

The engine follows the history: at most every ``history_check_seconds`` (and always before a rerun) the
history's snapshot id is read, and a changed history swaps in the engine for it. Requests never wait for a
background swap; they use the engine they found.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from oppscope.analyses.cache import AnalysisCache
from oppscope.analyses.instrument import AnalysisObserver, AnalysisRun
from oppscope.analyses.redaction import mask_opportunity
from oppscope.analyses.store import AnalysisStore, IdempotencyConflictError, NewAnalysis, SavedAnalysis
from oppscope.analysis.models import Opportunity
from oppscope.config import Settings
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.history.interfaces import HistoryReader
from oppscope.history.store import HistoryError

if TYPE_CHECKING:
    from oppscope.analysis.engine import Engine

log = structlog.get_logger(__name__)


class AnalysisNotFoundError(OppscopeError):
    default_kind = ErrorKind.not_found

    def __init__(self, analysis_id: str) -> None:
        self.analysis_id = analysis_id
        super().__init__("analysis_not_found", f"no analysis with id {analysis_id!r}", {"id": analysis_id})


class EngineHolder:
    """The engine for the current history; ``open_reader`` opens the history to read its snapshot id."""

    def __init__(self, settings: Settings, open_reader: Callable[[], HistoryReader]) -> None:
        self._settings = settings
        self._open_reader = open_reader
        self._engine: Engine | None = None
        self.error: HistoryError | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def load(self) -> None:
        """At start-up: load (or fit) the engine for the current history; a failure is kept for readiness."""
        self._follow_history(wait=True)

    def loaded(self) -> Engine:
        """The engine as it is now, without looking at the history; its load failure if there is none."""
        if self._engine is None:
            raise self.error or HistoryError("not_ready", "the analysis engine is not loaded")
        return self._engine

    def current(self, *, refresh: bool = False) -> Engine:
        """The engine to analyse with; ``refresh`` waits for a check of the history first.

        Without ``refresh`` a due check runs in the background: fitting a new history can take a minute, and
        no request should wait for that while the previous engine can still answer.
        """
        if refresh:
            self._follow_history(wait=True)
        elif time.monotonic() - self._checked >= self._settings.history_check_seconds and not self._lock.locked():
            self._checked = time.monotonic()
            threading.Thread(target=self._follow_history, kwargs={"wait": False}, daemon=True).start()
        return self.loaded()

    def _follow_history(self, *, wait: bool) -> None:
        if not self._lock.acquire(blocking=wait):
            return  # another thread is already checking
        try:
            self._checked = time.monotonic()
            if self._engine is None or self._snapshot() != self._engine.snapshot_id:
                from oppscope.analysis.runtime import load_engine

                log.info("loading the engine for the current history")
                self._engine, self.error = load_engine(self._settings), None
        except HistoryError as exc:
            self.error = exc
            log.warning("history unavailable; keeping the loaded engine, if any", code=exc.code, message=exc.message)
        finally:
            self._lock.release()

    def _snapshot(self) -> str | None:
        with self._open_reader() as store:
            return store.snapshot_id() if store.row_count() else None


def request_digest(opportunity: Opportunity, rerun_of: str | None) -> str:
    """What a retried request must repeat exactly for its idempotency key to replay the first answer."""
    canonical = json.dumps(
        {"input": opportunity.model_dump(mode="json"), "rerun_of": rerun_of}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class AnalysisService:
    def __init__(
        self,
        store: AnalysisStore,
        engines: EngineHolder,
        cache: AnalysisCache | None = None,
        observer: AnalysisObserver | None = None,
        *,
        mask_free_text: bool = True,
    ) -> None:
        self.store = store
        self.engines = engines
        self.cache = cache or AnalysisCache(enabled=False)
        self.observer = observer
        self.mask_free_text = mask_free_text

    def accept(self, opportunity: Opportunity) -> Opportunity:
        """The opportunity as the service keeps it: its free text masked (``mask_free_text``), so nothing
        stored, answered, exported or rerun carries the secrets and identifiers it was sent with."""
        return mask_opportunity(opportunity) if self.mask_free_text else opportunity

    def create(
        self,
        opportunity: Opportunity,
        *,
        created_by: str,
        idempotency_key: str | None = None,
        rerun_of: str | None = None,
    ) -> tuple[SavedAnalysis, bool]:
        """Analyse and save; returns ``(saved, created)`` where ``created`` is False for a replayed key."""
        opportunity = self.accept(opportunity)
        digest = request_digest(opportunity, rerun_of)
        if idempotency_key is not None:
            earlier = self.store.find_by_idempotency_key(created_by, idempotency_key)
            if earlier is not None:
                saved, earlier_digest = earlier
                if earlier_digest != digest:
                    raise IdempotencyConflictError(idempotency_key, saved.id)
                return saved, False
        run = AnalysisRun(self.observer)
        analysis = self.cache.analyze(self.engines.current(refresh=rerun_of is not None), opportunity, run)
        with run.timed("store"):
            saved, created = self.store.save(
                NewAnalysis(
                    analysis=analysis,
                    created_by=created_by,
                    rerun_of=rerun_of,
                    idempotency_key=idempotency_key,
                    request_sha256=digest,
                )
            )
        run.log(saved.id, analysis, rerun_of)
        return saved, created

    def get(self, analysis_id: str) -> SavedAnalysis:
        saved = self.store.get(analysis_id)
        if saved is None:
            raise AnalysisNotFoundError(analysis_id)
        return saved

    def rerun(
        self, analysis_id: str, *, created_by: str, idempotency_key: str | None = None
    ) -> tuple[SavedAnalysis, bool]:
        """The same input against the current history, saved as a new analysis that points at the old one."""
        original = self.get(analysis_id)
        opportunity = Opportunity.model_validate(original.analysis["input"])
        return self.create(
            opportunity, created_by=created_by, idempotency_key=idempotency_key, rerun_of=analysis_id
        )
