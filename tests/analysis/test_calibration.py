"""The calibration's rules on data whose answer is known: levels only where errors differ, scale where it varies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse
from scipy.stats import mannwhitneyu

from oppscope.analysis import calibration
from oppscope.analysis.calibration import _local_scale, _separable_levels
from oppscope.analysis.regression import Evidence, FieldColumns, FieldSpread

N = 800


def _errors(rng: np.random.Generator, scale: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.abs(rng.normal(0.0, 1.0, len(scale))) * scale
    return out


def test_levels_are_given_where_the_score_tells_errors_apart() -> None:
    rng = np.random.default_rng(1)
    scores = rng.uniform(0, 100, N)
    ape = _errors(rng, np.exp(-scores / 40))  # the higher the score, the smaller the error
    cuts, levels = _separable_levels(scores, scores, np.full(N, 10.0), ape, skill=0.5)
    assert all(math.isfinite(c) for c in cuts) and cuts[0] < cuts[1]
    medians = [float(np.median(ape[levels == lv])) for lv in ("HIGH", "MEDIUM", "LOW")]
    assert medians == sorted(medians)


def test_no_level_is_given_where_the_score_says_nothing_about_the_error() -> None:
    rng = np.random.default_rng(2)
    scores = rng.uniform(0, 100, N)
    ape = _errors(rng, np.ones(N))
    cuts, levels = _separable_levels(scores, scores, np.full(N, 10.0), ape, skill=0.5)
    assert cuts == (-math.inf, math.inf)
    assert set(levels) == {"MEDIUM"}


def test_a_chance_gap_at_one_cut_gives_no_level_when_the_score_does_not_rank_errors() -> None:
    """On this draw of pure noise the score's median splits the errors with a one-sided Mann-Whitney p below
    SEPARATION_P and lower medians in both halves: levels a user would find out of order on the next projects."""
    rng = np.random.default_rng(105)
    scores = rng.uniform(0, 100, N)
    ape = _errors(rng, np.ones(N))
    high, low = scores >= np.median(scores), scores < np.median(scores)
    assert mannwhitneyu(ape[high], ape[low], alternative="less").pvalue < calibration.SEPARATION_P
    newer = np.arange(N) >= N // 2
    assert all(np.median(ape[high & half]) < np.median(ape[low & half]) for half in (newer, ~newer))
    assert not calibration._ranks_errors(scores, ape)
    cuts, levels = _separable_levels(scores, scores, np.full(N, 10.0), ape, skill=0.5)
    assert cuts == (-math.inf, math.inf) and set(levels) == {"MEDIUM"}


def test_no_level_is_given_for_a_sure_but_small_gap() -> None:
    """The better half errs 10% less: with 4,000 validation projects that is beyond doubt, but a gap this small
    on the validation projects does not last among later opportunities."""
    rng = np.random.default_rng(6)
    n = 4000
    scores = rng.uniform(0, 100, n)
    ape = _errors(rng, np.where(scores >= 50, 0.9, 1.0))
    assert mannwhitneyu(ape[scores >= 50], ape[scores < 50], alternative="less").pvalue < calibration.SEPARATION_P
    cuts, levels = _separable_levels(scores, scores, np.full(n, 10.0), ape, skill=0.5)
    assert cuts == (-math.inf, math.inf) and set(levels) == {"MEDIUM"}


def test_two_levels_where_medium_and_low_err_alike() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 100, N)
    ape = _errors(rng, np.where(scores >= 70, 0.5, 1.0))  # only the best 30% err less
    cuts, levels = _separable_levels(scores, scores, np.full(N, 10.0), ape, skill=0.5)
    assert cuts[0] == cuts[1]
    assert set(levels) == {"HIGH", "LOW"}


def test_without_skill_the_best_level_is_medium() -> None:
    rng = np.random.default_rng(4)
    scores = rng.uniform(0, 100, N)
    ape = _errors(rng, np.exp(-scores / 40))
    _, levels = _separable_levels(scores, scores, np.full(N, 10.0), ape, skill=0.0)
    assert "HIGH" not in set(levels)


def test_the_field_spread_finds_which_field_values_err_more() -> None:
    rng = np.random.default_rng(5)
    group = rng.integers(0, 2, 2000)
    partner = rng.integers(0, 100, 2000)  # a field whose 100 values (20 projects each) say nothing about error
    columns = [np.ones(2000), group == 0, group == 1, *(partner == p for p in range(100))]
    x = sparse.csr_matrix(np.column_stack(columns).astype(float))
    residuals = rng.normal(0.0, np.where(group == 1, 0.6, 0.2))
    model = FieldSpread.fit(FieldColumns.of(x, [np.array([1, 2]), np.arange(3, 103)]), residuals)
    assert model is not None
    rows = [np.flatnonzero(group == 0)[0], np.flatnonzero(group == 1)[0]]
    small, large = model.expected(x[rows])
    assert large > 2 * small > 0
    # Relative to the history's mean error: the steady group's intervals narrow, the other's widen.
    steady, noisy = model.scale(x[rows])
    assert steady < 0.6 < 1.4 < noisy
    # The partners' own mean errors differ by chance (and by their share of each group): shrunk most of the way.
    raw = np.array([np.abs(residuals[partner == p]).mean() for p in range(100)])
    assert np.ptp(model.coef[3:103]) < 0.25 * np.ptp(raw)


def test_validation_queries_grow_on_small_histories_only() -> None:
    assert calibration.MIN_VALIDATION_QUERIES * 80_000 >= calibration.QUERY_BUDGET


def _evidence(analog_scales: np.ndarray, rng: np.random.Generator, shared: np.ndarray | None) -> Evidence:
    """25 equally weighted analogs per query, their residuals at each query's scale (or one shared set)."""
    items = [
        Evidence.single(
            base=0.0,
            analog_residuals=shared if shared is not None else rng.normal(scale=s, size=25),
            weights=np.full(25, 1 / 25),
            customer_residuals=np.zeros(0),
        )
        for s in analog_scales
    ]
    return Evidence.stack(items)


@pytest.mark.parametrize("informative", [True, False])
def test_the_analogs_spread_scales_intervals_only_where_it_tells_errors_apart(informative: bool) -> None:
    rng = np.random.default_rng(3)
    scale = rng.choice([0.2, 1.0], size=1200)  # some kinds of project err five times more than others
    actual = rng.normal(scale=scale)
    # Informative: each query's analogs err like it does. Not: every query shares the same 25 analogs.
    shared = None if informative else rng.normal(scale=0.5, size=25)
    evidence = _evidence(scale, rng, shared)
    calibration, _, half = _local_scale(evidence, actual, 0.8, math.inf, math.inf, sigma=0.6)
    assert bool(calibration.scale_prior < math.inf) is informative
    assert bool(np.ptp(half) > 0) is informative  # one shared draw: every interval the same width


@pytest.mark.parametrize("informative", [True, False])
def test_the_stated_fields_scale_intervals_only_where_they_tell_errors_apart(informative: bool) -> None:
    rng = np.random.default_rng(6)
    scale = rng.choice([0.2, 1.0], size=1200)
    actual = rng.normal(scale=scale)
    evidence = _evidence(scale, rng, rng.normal(scale=0.5, size=25))  # the analogs tell nothing apart
    # What a FieldSpread would say: each query's own scale relative to the mean, or scales unrelated to its error.
    field_scales = scale / scale.mean() if informative else rng.permutation(scale) / scale.mean()
    calibration, _, half = _local_scale(evidence, actual, 0.8, math.inf, math.inf, 0.6, field_scales)
    assert calibration.scales_by_fields is informative
    covered = np.abs(actual) <= half
    if informative:  # each kind of input covers about its share, not only all of them together
        for s in (0.2, 1.0):
            assert 0.74 <= covered[scale == s].mean() <= 0.86
    else:
        assert np.ptp(half) == 0
