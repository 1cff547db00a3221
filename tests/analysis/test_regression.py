"""The statistical pieces on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve

from oppscope.analysis.features import scope_quantities, tokens
from oppscope.analysis.regression import (
    FOLDS,
    Evidence,
    NormalEquations,
    _Factored,
    conformal_quantiles,
    correct,
)


def _design(rows: int, columns: int, seed: int) -> sparse.csr_matrix:
    # Column 0 is the intercept column, as in every design matrix the engine builds.
    random = sparse.random(rows, columns, density=0.3, random_state=seed)
    return sparse.hstack([np.ones((rows, 1)), random]).tocsr()


def test_ridge_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(0)
    x = _design(2000, 20, 1)
    beta = rng.normal(size=21)
    y = x @ beta + 5.0 + rng.normal(scale=0.01, size=2000)
    (eq,) = NormalEquations.of(x, {"y": y}, cut=2000)
    coef, _ = eq.fit(x, np.arange(21), alpha=1e-3, newest=False)
    assert np.allclose(x @ coef[:, 0], y, atol=0.05)


def test_out_of_fold_residuals_equal_direct_solves_and_exceed_in_sample() -> None:
    rng = np.random.default_rng(1)
    x = _design(300, 80, 2)
    y = x @ rng.normal(size=81) + rng.normal(scale=1.0, size=300)
    y[7] = np.nan  # an unknown outcome is left out of every fit
    (eq,) = NormalEquations.of(x, {"y": y}, cut=240)
    cols = np.arange(81)
    coef, oof = eq.fit(x, cols, 0.1, newest=True)
    assert np.isnan(oof[7, 0]) and np.isfinite(np.delete(oof[:, 0], 7)).all()
    dense, ok = x.toarray(), np.isfinite(y)
    penalty = np.diag(np.where(cols == 0, 1e-9, 0.1))
    for f in range(FOLDS):
        train = ok & (np.arange(300) % FOLDS != f)
        beta = np.linalg.solve(dense[train].T @ dense[train] + penalty, dense[train].T @ y[train])
        held = ok & ~train
        assert np.allclose(oof[held, 0], y[held] - dense[held] @ beta, atol=1e-4)
    in_sample = y[ok] - x[ok] @ coef[:, 0]
    assert np.mean(oof[ok, 0] ** 2) > 1.2 * np.mean(in_sample**2)


def test_older_part_fit_ignores_the_newest_rows() -> None:
    rng = np.random.default_rng(4)
    x = _design(400, 10, 5)
    y = x @ rng.normal(size=11) + rng.normal(scale=0.1, size=400)
    y[300:] += 100.0  # the newest rows disagree wildly: an older-part fit must not see them
    (eq,) = NormalEquations.of(x, {"y": y}, cut=300)
    coef, oof = eq.fit(x, np.arange(11), 0.1, newest=False)
    assert np.isnan(oof[300:, 0]).all()
    assert np.abs(y[:300] - x[:300] @ coef[:, 0]).mean() < 0.5


def test_conformal_quantiles_cover_the_requested_share() -> None:
    e = np.random.default_rng(3).standard_t(df=4, size=5000)
    lo, hi = conformal_quantiles(e, 0.8)
    inside = np.mean((e >= lo) & (e <= hi))
    assert 0.79 <= inside <= 0.82


def _ev(analog: list[float], own: list[float]) -> Evidence:
    return Evidence.single(
        base=0.0,
        analog_residuals=np.array(analog),
        weights=np.full(len(analog), 1.0 / len(analog)),
        customer_residuals=np.array(own),
    )


def test_customer_effect_is_shrunk_by_its_prior() -> None:
    center, _ = correct(_ev([0.0] * 10, [1.0, 1.0]), shrinkage=1.0, customer_prior=2.0, sigma=0.3)
    assert center[0] == pytest.approx(0.5)  # two projects, two pseudo-projects: half the observed effect


def test_infinite_shrinkage_ignores_the_analogs() -> None:
    center, scale = correct(_ev([0.8] * 10, []), shrinkage=np.inf, customer_prior=1.0, sigma=0.3)
    assert center[0] == 0.0
    assert scale[0] > 0.3  # but their disagreement with the regression still widens the interval


def test_analog_correction_is_shrunk_by_evidence() -> None:
    few, _ = correct(_ev([0.6] * 2, []), shrinkage=2.0, customer_prior=1.0, sigma=0.3)
    many, _ = correct(_ev([0.6] * 20, []), shrinkage=2.0, customer_prior=1.0, sigma=0.3)
    assert few[0] == pytest.approx(0.3)  # 2 analogs against 2 pseudo-analogs
    assert 0.5 < many[0] < 0.6


def test_batches_give_the_same_answer_as_single_queries() -> None:
    a, b = _ev([0.1, 0.5, np.nan], [0.2]), _ev([-0.4, 0.3], [])
    batch_center, batch_scale = correct(Evidence.stack([a, b]), 1.0, 1.0, 0.3)
    for i, ev in enumerate((a, b)):
        center, scale = correct(ev, 1.0, 1.0, 0.3)
        assert batch_center[i] == pytest.approx(center[0])
        assert batch_scale[i] == pytest.approx(scale[0])


def test_scope_quantities_read_numbers_with_units() -> None:
    found = scope_quantities("Migrate 1,200 servers and 3.5k users; 40 TB in 2023")
    assert found == {"server": 1200.0, "user": 3500.0, "tb": 40.0}
    assert scope_quantities("200+ VMs, 500TB, a $1.2M budget, 20% growth") == {"vms": 200.0, "tb": 500.0, "usd": 1.2e6}


def test_tokens_drop_stopwords() -> None:
    assert tokens("The migration of SAP to AWS") == {"migration", "sap", "aws"}


def test_the_sparse_triangle_gram_gives_the_bits_of_the_dense_sums() -> None:
    x = _design(900, 40, 6)
    y = np.random.default_rng(6).normal(size=900)
    (eq,) = NormalEquations.of(x, {"y": y}, cut=600)
    segment = eq.segment
    dense = [(x[segment == s].T @ x[segment == s]).toarray() for s in range(2 * FOLDS)]
    cols = np.array([0, 2, 3, 7, 11, 12, 30, 40])
    for segments in ([0, 1, 2], list(range(2 * FOLDS)), [1, FOLDS + 1]):
        expected = np.sum([dense[s] for s in segments], axis=0)
        assert np.array_equal(eq.gram(segments, np.arange(41)), expected)
        assert np.array_equal(eq.gram(segments, cols), expected[np.ix_(cols, cols)])
    with pytest.raises(ValueError):
        eq.gram([0], cols[::-1])


def test_one_matrix_holding_system_and_factor_gives_the_bits_of_separate_copies() -> None:
    x = _design(900, 60, 7)
    (eq,) = NormalEquations.of(x, {"y": np.random.default_rng(7).normal(size=900)}, cut=600)
    cols = np.arange(61)
    a, b = eq.system(cols, 3.0, list(range(2 * FOLDS)))
    kept = a.copy()
    held = eq.gram([1, FOLDS + 1], cols)
    factored = _Factored(a)  # consumes a
    separate = cho_factor(kept, check_finite=False)
    assert np.array_equal(np.triu(factored.factor[0]), np.triu(separate[0]))
    assert np.array_equal(factored.solve(b), cho_solve(separate, b, check_finite=False))
    assert np.array_equal(factored.minus(held.copy()), kept - held)
    shift = np.linspace(-1.0, 2.0, 61)
    expected = kept.copy()
    expected[np.diag_indices_from(expected)] += shift
    scratch = np.full_like(kept, np.nan)
    assert np.array_equal(factored.shifted(shift, out=scratch), expected)
    assert np.array_equal(factored.minus(held.copy()), kept - held)  # the system survives every rebuild
    assert np.array_equal(eq.gram([0, 2], cols, out=scratch), eq.gram([0, 2], cols))


def _trend_design(rows: int, seed: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Intercept, a few fields and, last, close years rising over the rows (the order a history is kept in)."""
    years = np.linspace(0.0, 5.0, rows)
    return sparse.hstack([_design(rows, 6, seed), years[:, None]]).tocsr(), years


@pytest.mark.parametrize("lasts", [True, False])
def test_a_trend_is_kept_only_where_it_predicts_the_newest_rows(lasts: bool) -> None:
    rng = np.random.default_rng(7)
    x, years = _trend_design(1000, 8)
    cut = 800
    # The older rows rise by 0.4 a year; the newest go on rising, or fall back to the older rows' average.
    y = x[:, :7] @ rng.normal(size=7) + rng.normal(scale=0.2, size=1000)
    rise = 0.4 * (years - years[:cut].mean())
    y += rise if lasts else np.where(np.arange(1000) < cut, rise, 0.0)
    (eq,) = NormalEquations.of(x, {"y": y}, cut=cut)
    _, trend = eq.select_penalty(x[cut:], np.arange(8), cut, trend_column=7)
    assert trend is lasts
