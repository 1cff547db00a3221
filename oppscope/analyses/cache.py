"""The analysis cache: the same input against the same fitted engine is computed once per TTL.

The key is the input's hash (without its ``id``, as in the provenance) and the engine's model id, which already
names the history snapshot, the analysis settings and the engine code: a new history or other settings can never
hit an old entry, and the first analysis with a new model id empties the cache. How long an answer is kept
follows its confidence (the seed's table: HIGH 2 h, MEDIUM 1 h, LOW 30 min). The cache only saves the compute:
the service still saves every answer as a new analysis. It lives in the worker's memory (an analysis costs
milliseconds; a shared store would cost as much as it saves) and is bounded, least recently used first out.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from oppscope.analyses.instrument import AnalysisRun
from oppscope.analysis.contracts import Analysis, ConfidenceLevel, Opportunity
from oppscope.config import Settings

if TYPE_CHECKING:
    from oppscope.analysis.engine import Engine


def input_sha256(opportunity: Opportunity) -> str:
    """The input's identity for the cache: every field but the caller's own ``id``."""
    return hashlib.sha256(opportunity.model_dump_json(exclude={"id"}).encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    enabled: bool
    entries: int
    max_entries: int
    hits: int
    misses: int
    evictions: int

    @property
    def hit_rate(self) -> float | None:
        return self.hits / (self.hits + self.misses) if self.hits + self.misses else None


@dataclass(frozen=True)
class _Entry:
    analysis: Analysis
    expires: float


class AnalysisCache:
    def __init__(
        self, *, enabled: bool, max_entries: int = 1000, ttl_s: dict[ConfidenceLevel, float] | None = None
    ) -> None:
        self.enabled = enabled
        self.max_entries = max_entries
        self.ttl_s: dict[ConfidenceLevel, float] = ttl_s or {"HIGH": 7200.0, "MEDIUM": 3600.0, "LOW": 1800.0}
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._model_id: str | None = None
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalysisCache:
        return cls(
            enabled=settings.analysis_cache_enabled,
            max_entries=settings.analysis_cache_max_entries,
            ttl_s={
                "HIGH": settings.analysis_cache_ttl_high_seconds,
                "MEDIUM": settings.analysis_cache_ttl_medium_seconds,
                "LOW": settings.analysis_cache_ttl_low_seconds,
            },
        )

    def analyze(self, engine: Engine, opportunity: Opportunity, run: AnalysisRun) -> Analysis:
        """The engine's answer for ``opportunity``, from the cache when it holds a fresh one."""
        if not self.enabled:
            return engine.analyze(opportunity, run.on_stage)
        key = (engine.model_id, input_sha256(opportunity))
        with self._lock:
            self._follow_model(engine.model_id)
            entry = self._entries.get(key)
            fresh = entry is not None and entry.expires > time.monotonic()
            if entry is not None and fresh:
                self._entries.move_to_end(key)
                self._hits += 1
            else:
                self._misses += 1
        if entry is not None and fresh:
            run.on_cache(hit=True)
            # The caller's own id is not part of the key: the answer carries this request's input.
            return entry.analysis.model_copy(update={"input": opportunity})
        run.on_cache(hit=False)
        analysis = engine.analyze(opportunity, run.on_stage)
        with self._lock:
            self._follow_model(engine.model_id)
            self._entries[key] = _Entry(analysis, time.monotonic() + self.ttl_s[analysis.confidence.level])
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self._evictions += 1
        return analysis

    def _follow_model(self, model_id: str) -> None:
        """Entries of one engine only: another model id (a new history or settings) empties the cache. Called
        under the lock."""
        if self._model_id != model_id:
            self._entries.clear()
            self._model_id = model_id

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                enabled=self.enabled,
                entries=len(self._entries),
                max_entries=self.max_entries,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
            )
