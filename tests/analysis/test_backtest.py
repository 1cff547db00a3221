"""The backtest on the generated sample: the engine must beat the baselines and keep its promises."""

from __future__ import annotations

import pytest

from oppscope.analysis.backtest import BacktestReport, Truth, backtest
from oppscope.analysis.dataset import History
from oppscope.analysis.engine import EngineConfig
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.sample import SampleHistory
from oppscope.history.store import HistoryError
from tests.analysis.criteria import unexpected


@pytest.fixture(scope="module")
def report(history: History, sample: SampleHistory, sample_store: DuckDBHistoryStore) -> BacktestReport:
    truth = Truth(
        log_arr={t.opportunity_id: t.log_arr_median for t in sample.truth},
        ttl={t.opportunity_id: t.ttl_months_median for t in sample.truth},
        duration={t.opportunity_id: t.duration_months_median for t in sample.truth},
    )
    return backtest(history, EngineConfig(), test_fraction=0.25, sql=sample_store.query, truth=truth)


def _scores(report: BacktestReport) -> dict[str, float]:
    return {m.method: m.arr_mdape for m in report.methods}


def test_engine_beats_every_baseline(report: BacktestReport) -> None:
    scores = _scores(report)
    ours = scores.pop("oppscope")
    reference = scores.pop("reference (TF-IDF + one-hot ridge)")
    assert set(scores) == {"global median", "segment median", "original (relevance SQL, top 200)"}
    assert all(ours < 0.75 * other for other in scores.values()), scores
    assert ours < reference


def test_every_input_pattern_is_reported_ahead_of_the_reference_with_honest_intervals(report: BacktestReport) -> None:
    assert [p.pattern for p in report.patterns] == ["required", "profile", "full"]
    for pattern in report.patterns:
        ours, reference = pattern.methods[0], pattern.methods[1]
        assert ours.method == "oppscope" and reference.method.startswith("reference")
        assert ours.arr_mdape < reference.arr_mdape, pattern.pattern
        assert ours.ttl_mae_months is not None and reference.ttl_mae_months is not None
        assert ours.ttl_mae_months < reference.ttl_mae_months, pattern.pattern
    # Not met yet (issue 7) on this 3,000-row history (450 validation projects): with only the required fields
    # the levels' own coverage shifts in use (HIGH covers 72.7% of its 341), and the pattern covers 75.7% of 750
    # later projects (one standard error is 1.6 points), returning customers' 72.0% of 378.
    known = {"required": frozenset({"level coverage", "coverage", "kind coverage"})}
    assert not unexpected(report.patterns, known)


def test_fewer_stated_fields_cost_accuracy_but_stay_calibrated(report: BacktestReport) -> None:
    by_pattern = {p.pattern: p.methods[0] for p in report.patterns}
    assert by_pattern["full"].arr_mdape < by_pattern["required"].arr_mdape
    assert "segment median" not in {m.method for m in report.patterns[0].methods}  # the segment is not stated


def test_durations_are_scored_against_the_baselines_and_the_truth(report: BacktestReport) -> None:
    by_method = {m.method: m.duration_mae_months for m in report.methods}
    ours = by_method["oppscope"]
    assert ours is not None and by_method["global median"] is not None
    assert ours < by_method["global median"]
    assert report.best_achievable is not None and report.best_achievable.duration_mae_months is not None
    assert report.best_achievable.duration_mae_months <= ours


def test_intervals_cover_about_their_level(report: BacktestReport) -> None:
    ours = report.methods[0]
    assert ours.arr_interval_coverage is not None and 0.72 <= ours.arr_interval_coverage <= 0.9
    assert ours.ttl_interval_coverage is not None and 0.72 <= ours.ttl_interval_coverage <= 0.9


def test_confidence_levels_are_given_where_errors_differ(report: BacktestReport) -> None:
    """The sample's errors do differ (segments vary in noise, returning customers are known better), so
    every pattern gives at least two levels, the most confident erring least (their order and coverage are
    among the criteria above)."""
    # Not met yet (issue 7) on this 3,000-row history: on its 450 validation projects the fully stated pattern's
    # better-scored half errs 0.82x as much as the other half (a level needs 0.8x), so it gives one level. On the
    # 5,000-row sample and on the 20,000-row holdouts it gives two.
    one_level = {"full"}
    for pattern in report.patterns:
        given = [lv for lv in pattern.by_confidence if lv.count > 0]
        if pattern.pattern in one_level:
            assert len(given) == 1, "listed as a known gap but met"
            continue
        assert len(given) >= 2, pattern.pattern
        assert given[0].arr_mdape is not None and given[-1].arr_mdape is not None
        assert given[0].arr_mdape < given[-1].arr_mdape, pattern.pattern


def test_best_achievable_is_reported_and_not_beaten(report: BacktestReport) -> None:
    best = report.best_achievable
    assert best is not None
    assert best.arr_mdape <= report.methods[0].arr_mdape
    assert best.ttl_mae_months is not None and report.methods[0].ttl_mae_months is not None
    assert report.methods[0].ttl_mae_months < 1.25 * best.ttl_mae_months


def test_report_renders_every_method(report: BacktestReport) -> None:
    text = report.render_text()
    for m in report.methods:
        assert m.method in text
    assert "best achievable" in text
    for pattern in report.patterns:
        assert f"pattern '{pattern.pattern}'" in text


def test_coverage_is_reported_per_kind_of_input(report: BacktestReport) -> None:
    """Each pattern reports its customers new and returning; a pattern stating the segment, each segment."""
    text = report.render_text()
    for pattern in report.patterns:
        kinds = {k.kind for k in pattern.by_kind}
        assert kinds == ({"customer", "segment"} if "customer_segment" in pattern.fields else {"customer"})
        assert sum(k.count for k in pattern.by_kind if k.kind == "customer") == pattern.methods[0].queries
        assert {k.value for k in pattern.by_kind if k.kind == "customer"} == {"new", "returning"}
    assert text.count("ARR cov by customer: new ") == len(report.patterns)
    assert text.count("ARR cov by segment: ") == 2


def test_too_small_a_history_is_refused(history: History) -> None:
    tiny = history.subset(history.close_ts <= history.close_ts[40])
    with pytest.raises(HistoryError) as err:
        backtest(tiny, EngineConfig())
    assert err.value.code == "history_too_small"
