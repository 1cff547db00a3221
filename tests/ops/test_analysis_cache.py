"""The analysis cache over a real fitted engine: hits give the engine's own answer, TTL by confidence, a new
engine (new history or settings) empties it, bounded, and off means off."""

from __future__ import annotations

import time

from oppscope.analyses.cache import AnalysisCache, input_sha256
from oppscope.analyses.instrument import AnalysisRun
from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import History
from oppscope.analysis.engine import Engine, EngineConfig
from tests.examples import OPPORTUNITY


class Recorder:
    def __init__(self) -> None:
        self.stages: list[str] = []
        self.caches: list[bool] = []

    def stage(self, stage: str, seconds: float) -> None:
        assert seconds >= 0
        self.stages.append(stage)

    def cache(self, hit: bool) -> None:
        self.caches.append(hit)


def _opportunity(**changes: object) -> Opportunity:
    return Opportunity.model_validate({**OPPORTUNITY, **changes})


def test_a_repeated_input_is_answered_from_the_cache(engine: Engine) -> None:
    cache = AnalysisCache(enabled=True)
    recorder = Recorder()
    first_run, second_run = AnalysisRun(recorder), AnalysisRun(recorder)
    first = cache.analyze(engine, _opportunity(id="crm-1"), first_run)
    second = cache.analyze(engine, _opportunity(id="crm-2"), second_run)
    assert (first_run.cache, second_run.cache) == ("miss", "hit")
    assert recorder.caches == [False, True]
    assert recorder.stages == ["resolve", "retrieve", "estimate", "narrative"]  # computed once
    assert second.input.id == "crm-2" and first.input.id == "crm-1"
    assert second.model_dump(exclude={"input"}) == first.model_dump(exclude={"input"})
    # The same numbers the engine gives now; the provenance keeps when they were computed.
    fresh = engine.analyze(_opportunity())
    volatile = {"input": True, "provenance": {"created_at"}}
    assert second.model_dump(exclude=volatile) == fresh.model_dump(exclude=volatile)
    assert first.provenance.input_sha256 == input_sha256(_opportunity(id="other"))
    other = cache.analyze(engine, _opportunity(description="Something else entirely"), AnalysisRun(None))
    assert other.sections != first.sections
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 2, 2)


def test_the_ttl_follows_the_confidence(engine: Engine) -> None:
    level = engine.analyze(_opportunity()).confidence.level
    cache = AnalysisCache(enabled=True, ttl_s={"HIGH": 3600, "MEDIUM": 3600, "LOW": 3600} | {level: 0.05})
    cache.analyze(engine, _opportunity(), AnalysisRun(None))
    time.sleep(0.1)
    run = AnalysisRun(None)
    cache.analyze(engine, _opportunity(), run)
    assert run.cache == "miss"


def test_a_new_engine_empties_the_cache(engine: Engine, history: History) -> None:
    cache = AnalysisCache(enabled=True)
    cache.analyze(engine, _opportunity(), AnalysisRun(None))
    refitted = Engine.fit(history, "another-snapshot", EngineConfig())
    assert refitted.model_id != engine.model_id
    run = AnalysisRun(None)
    answer = cache.analyze(refitted, _opportunity(), run)
    assert run.cache == "miss" and answer.provenance.history_snapshot_id == "another-snapshot"
    assert cache.stats().entries == 1


def test_the_cache_is_bounded(engine: Engine) -> None:
    cache = AnalysisCache(enabled=True, max_entries=2)
    for name in ("a", "b", "c"):
        cache.analyze(engine, _opportunity(opportunity_name=name), AnalysisRun(None))
    run = AnalysisRun(None)
    cache.analyze(engine, _opportunity(opportunity_name="a"), run)  # the least recently used went first
    assert run.cache == "miss"
    assert cache.stats().evictions == 2 and cache.stats().entries == 2


def test_off_computes_every_time(engine: Engine) -> None:
    cache = AnalysisCache(enabled=False)
    recorder = Recorder()
    for _ in range(2):
        run = AnalysisRun(recorder)
        cache.analyze(engine, _opportunity(), run)
        assert run.cache == "off"
    assert recorder.caches == [] and recorder.stages.count("resolve") == 2
    assert cache.stats().entries == 0
