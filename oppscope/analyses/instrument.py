"""What one analysis reports while it runs: how long each stage took and whether the cache answered.

The analyses layer does not know Prometheus or the time series; it reports to an ``AnalysisObserver`` (the web
app passes its telemetry), and writes the ``analysis`` log record with the stage times, the confidence and the
cache result. Only numbers and ids are logged, never the opportunity's text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, Protocol

import structlog

from oppscope.analysis.contracts import Analysis

log = structlog.get_logger(__name__)

CacheResult = Literal["hit", "miss", "off"]


class AnalysisObserver(Protocol):
    def stage(self, stage: str, seconds: float) -> None: ...

    def cache(self, hit: bool) -> None: ...


class AnalysisRun:
    def __init__(self, observer: AnalysisObserver | None) -> None:
        self.observer = observer
        self.stages_ms: dict[str, float] = {}
        self.cache: CacheResult = "off"

    def on_stage(self, stage: str, seconds: float) -> None:
        self.stages_ms[stage] = round(seconds * 1000, 3)
        if self.observer is not None:
            self.observer.stage(stage, seconds)

    def on_cache(self, hit: bool) -> None:
        self.cache = "hit" if hit else "miss"
        if self.observer is not None:
            self.observer.cache(hit)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.on_stage(stage, time.perf_counter() - started)

    def log(self, analysis_id: str, analysis: Analysis, rerun_of: str | None) -> None:
        log.info(
            "analysis",
            analysis_id=analysis_id,
            rerun_of=rerun_of,
            stages_ms=self.stages_ms,
            confidence=analysis.confidence.level,
            cache=self.cache,
            model_id=analysis.provenance.model_id,
        )
