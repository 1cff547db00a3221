"""Analyses as the web app runs them: the current engine, the store, idempotent creation and reruns.

The engine comes from an ``EngineSource``, which follows the history; a rerun asks it to look at the history
first, so that it runs against the current one.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Protocol

from oppscope.analyses.cache import AnalysisCache
from oppscope.analyses.instrument import AnalysisObserver, AnalysisRun
from oppscope.analyses.redaction import mask_opportunity
from oppscope.analyses.store import AnalysisStore, IdempotencyConflictError, NewAnalysis, SavedAnalysis
from oppscope.analysis.contracts import Opportunity
from oppscope.errors import ErrorKind, OppscopeError

if TYPE_CHECKING:
    from oppscope.analysis.engine import Engine

class AnalysisNotFoundError(OppscopeError):
    default_kind = ErrorKind.not_found

    def __init__(self, analysis_id: str) -> None:
        self.analysis_id = analysis_id
        super().__init__("analysis_not_found", f"no analysis with id {analysis_id!r}", {"id": analysis_id})


class EngineSource(Protocol):
    """Where analyses get their engine (``oppscope.engines.holder.EngineHolder`` in a server)."""

    def current(self, *, refresh: bool = False) -> Engine: ...


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
        engines: EngineSource,
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
