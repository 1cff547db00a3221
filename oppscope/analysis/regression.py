"""The learned part of the engine: a ridge regression per outcome, corrected by the analogs' residuals.

Why this shape: the regression explains how outcomes move with segment, industry, country, scope and time,
so an analog that differs from the opportunity can be *adjusted* (its residual, not its raw value, is what
carries over). The analogs then add what the regression cannot see (this customer, this kind of deal), with
shrinkage towards zero when they are few. Residuals are out-of-fold so they are honest about error, and the
interval is split-conformal on the latest part of the history, scaled by the analogs' local spread.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve
from scipy.special import ndtri
from threadpoolctl import threadpool_limits

ALPHAS: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0)
SHRINKAGE_GRID: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, math.inf)
# Pseudo-analogs of the history's spread mixed into the analogs' own (the local scale), chosen per pattern and
# outcome on the validation projects: inf is the history's spread alone.
SCALE_PRIOR_GRID: tuple[float, ...] = (4.0, 16.0, 64.0, math.inf)
FOLDS = 3
MIN_KNOWN_ROWS = 5  # fewer rows with an outcome than this and the engine says it cannot estimate it
# The dense solves run on one BLAS thread. OpenBLAS's threads wait for each other by spinning: on this 2-core
# machine with other work running, a 1,734-column Cholesky took 3-8 s threaded and 0.08 s on one thread.
BLAS_THREADS = 1
ROWS_PER_PRODUCT = 16_384


@dataclass(frozen=True)
class Ridge:
    coef: np.ndarray  # over every design column, zero outside the pattern's; column 0 is the intercept

    def predict(self, x: sparse.spmatrix) -> np.ndarray:
        return np.asarray(x @ self.coef).ravel()


def loss(errors: np.ndarray) -> float:
    """Mean absolute error on the model's scale, the criterion every setting is chosen by.

    On the log scale it tracks the median percentage error that is reported, but it uses every validation
    project rather than the middle one, so choices between close settings do not flip on row order.
    """
    a = np.abs(errors[np.isfinite(errors)])
    return float(a.mean()) if len(a) else math.inf


def _pcg(
    apply: Callable[[np.ndarray], np.ndarray],
    precondition: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    x0: np.ndarray,
    tol: float = 1e-7,
    max_iter: int = 200,
) -> np.ndarray:
    """Preconditioned conjugate gradients on every column of ``b`` at once (matrix products, not vectors)."""
    x = x0.copy()
    r = b - apply(x)
    z = precondition(r)
    d = z.copy()
    rz = (r * z).sum(axis=0)
    target = tol * np.maximum(np.linalg.norm(b, axis=0), 1e-300)
    for _ in range(max_iter):
        if (np.linalg.norm(r, axis=0) <= target).all():
            break
        ad = apply(d)
        curvature = (d * ad).sum(axis=0)
        step = np.divide(rz, curvature, out=np.zeros_like(rz), where=curvature > 0)
        x += d * step
        r -= ad * step
        z = precondition(r)
        rz_next = (r * z).sum(axis=0)
        d = z + d * np.divide(rz_next, rz, out=np.zeros_like(rz), where=rz > 0)
        rz = rz_next
    return x


class _Factored:
    """A system matrix and its Cholesky factor in one dense matrix: the factor in the upper triangle, the
    matrix's own (mirrored) values in the strictly lower one, its diagonal beside.

    LAPACK's potrf does not reference the strictly lower triangle of an upper factorisation, so factoring in
    place keeps the matrix there; each solve then rebuilds the matrix it needs (a fold left out, another
    penalty) in one scratch matrix, instead of a copy of the matrix, the factor and that matrix (three dense
    matrices of the design's width: most of a fit's memory at its peak). The matrix is consumed.
    """

    def __init__(self, a: np.ndarray) -> None:
        self.diagonal = a.diagonal().copy()
        # a is exactly symmetric, so a.T (the same memory, Fortran order) is the same matrix, factored in place.
        self.factor: tuple[np.ndarray, bool] = cho_factor(a.T, overwrite_a=True, check_finite=False)

    def solve(self, r: np.ndarray) -> np.ndarray:
        out: np.ndarray = cho_solve(self.factor, r, check_finite=False)
        return out

    def minus(self, out: np.ndarray) -> np.ndarray:
        """The matrix minus the symmetric matrix in ``out``, in ``out`` (each element one subtraction, as a
        dense ``a - out`` gives)."""
        held = out.diagonal().copy()
        np.subtract(self.factor[0], out, out=out)  # right below the diagonal only
        out[np.diag_indices_from(out)] = self.diagonal - held
        return _mirror_lower(out)

    def shifted(self, shift: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The matrix with ``shift`` added to its diagonal, in ``out``."""
        out[...] = self.factor[0]  # right below the diagonal only
        out[np.diag_indices_from(out)] = self.diagonal + shift
        return _mirror_lower(out)


def _mirror_lower(dense: np.ndarray) -> np.ndarray:
    """The strictly lower triangle copied onto the upper one, in place."""
    for i in range(1, len(dense)):  # row by row: no second dense matrix
        dense[:i, i] = dense[i, :i]
    return dense


class NormalEquations:
    """X'X and X'Y of the outcomes known on the same rows, per segment of rows: (older part, newest) × fold.

    Every regression the engine needs (each input pattern, with or without the newest part, each fold left
    out) is then a small dense solve on sums of these, instead of iterative passes over all rows per fit.
    Segments are fixed by position (``row % FOLDS``), so the calibration models (older part) and the final
    ones (all rows) leave out the same folds.
    """

    def __init__(self, names: list[str], y: np.ndarray, segment: np.ndarray, x: sparse.csr_matrix) -> None:
        self.names = names
        self.y = y  # (n, outcomes)
        self.segment = segment  # per row: its segment, -1 where these outcomes are unknown
        p = x.shape[1]
        # Each segment's X'X is kept sparse and as its upper triangle: it is exactly symmetric (both halves sum
        # the same products in the same order), and six dense copies would be most of a fit's memory.
        self.xtx: list[sparse.csr_matrix] = []
        self.xty = np.zeros((2 * FOLDS, p, len(names)))
        for s in range(2 * FOLDS):
            xs = x[np.flatnonzero(segment == s)]
            self.xtx.append(sparse.triu(xs.T @ xs, format="csr"))
            self.xty[s] = xs.T @ y[segment == s]
        self.n_columns = p

    @classmethod
    def of(cls, x: sparse.csr_matrix, outcomes: dict[str, np.ndarray], cut: int) -> list[NormalEquations]:
        """One set per distinct set of rows with a known outcome (usually one or two for all outcomes)."""
        n = x.shape[0]
        position = np.arange(n)
        base = (position >= cut) * FOLDS + position % FOLDS
        groups: dict[bytes, list[str]] = {}
        for name, y in outcomes.items():
            groups.setdefault(np.isfinite(y).tobytes(), []).append(name)
        out = []
        for names in groups.values():
            y = np.column_stack([outcomes[k] for k in names])
            segment = np.where(np.isfinite(y[:, 0]), base, -1)
            out.append(cls(names, np.where(np.isfinite(y), y, 0.0), segment, x))
        return out

    def _segments(self, newest: bool) -> list[int]:
        return list(range(2 * FOLDS if newest else FOLDS))

    def gram(self, segments: list[int], cols: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The segments' X'X summed in segment order (the bits a dense sum of dense copies gave), dense on the
        ascending ``cols`` only (a subset of an upper triangle in order is the upper triangle of the subset);
        in ``out`` when given (C order, overwritten)."""
        if np.any(np.diff(cols) <= 0):
            raise ValueError("design columns must be ascending")
        upper = self.xtx[segments[0]]
        for s in segments[1:]:
            upper = upper + self.xtx[s]
        if len(cols) < self.n_columns:
            upper = upper[cols][:, cols]
        if out is not None:
            out[...] = 0.0
        dense: np.ndarray = upper.toarray(out=out)
        _mirror_lower(dense.T)  # the transpose's lower triangle is this upper one
        return dense

    def system(self, cols: np.ndarray, alpha: float, segments: list[int]) -> tuple[np.ndarray, np.ndarray]:
        a = self.gram(segments, cols)
        a[np.diag_indices_from(a)] += np.where(cols == 0, 1e-9, alpha)  # the intercept is not penalised
        return a, self.xty[segments].sum(axis=0)[cols]

    def fit(
        self, x: sparse.csr_matrix, cols: np.ndarray, alpha: float, *, newest: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (columns × outcomes, zero outside ``cols``) on the chosen rows, and every row's
        out-of-fold residuals (NaN for rows not used).

        A fold-out system differs from the full one by a third of its rows, so the full system's Cholesky
        factor preconditions conjugate gradients on it: a few matrix products instead of a factorisation.
        """
        a, b = self.system(cols, alpha, self._segments(newest))
        residuals = np.full(self.y.shape, np.nan)
        scratch = np.empty_like(a)
        with threadpool_limits(BLAS_THREADS, user_api="blas"):
            factored = _Factored(a)
            full = factored.solve(b)
            for f in range(FOLDS):
                held_segments = [f, FOLDS + f] if newest else [f]
                held = np.flatnonzero(np.isin(self.segment, held_segments))
                if not len(held):
                    continue
                downdated = factored.minus(self.gram(held_segments, cols, out=scratch))
                bf = b - self.xty[held_segments].sum(axis=0)[cols]
                coef = _pcg(downdated.__matmul__, factored.solve, bf, full)
                for start in range(0, len(held), ROWS_PER_PRODUCT):  # x[held] whole would be a third of x
                    part = held[start : start + ROWS_PER_PRODUCT]
                    residuals[part] = self.y[part] - x[part][:, cols] @ coef
        coef = np.zeros((self.n_columns, len(self.names)))
        coef[cols] = full
        return coef, residuals

    def select_penalty(
        self, x_val: sparse.csr_matrix, cols: np.ndarray, cut: int, trend_column: int
    ) -> tuple[float, bool]:
        """The penalty, and whether to keep the trend column ``trend_column``, whose models of the older part
        predict the newest part best (summed relative loss).

        A trend is a line through a few years of noise when the fields that explain outcomes are not stated: on
        one 4,000-row history with no trend at all, the five-required-fields model's slope came out 2.6 standard
        errors from zero and shifted every later estimate by 5%. So it is kept only where it predicts the newest
        part better than no trend does. Without it, the solution is the one constrained to a zero slope, from
        one more right-hand side of the same solve (no second factorisation).
        """
        y_val, ok = self.y[cut:], self.segment[cut:] >= 0
        middle = ALPHAS[len(ALPHAS) // 2]
        a, b = self.system(cols, middle, self._segments(False))
        penalised = np.where(cols == 0, 0.0, 1.0)
        at = np.flatnonzero(cols == trend_column)
        unit = np.zeros((len(cols), 1))
        unit[at] = 1.0
        rhs = np.hstack([b, unit])
        scores: dict[tuple[float, bool], np.ndarray] = {}
        x_ok = x_val[ok][:, cols]
        scratch = np.empty_like(a)
        with threadpool_limits(BLAS_THREADS, user_api="blas"):
            factored = _Factored(a)
            start = factored.solve(rhs)
            for alpha in ALPHAS:
                shifted = factored.shifted((alpha - middle) * penalised, out=scratch)
                solved = _pcg(shifted.__matmul__, factored.solve, rhs, start)
                coef, toward = solved[:, :-1], solved[:, -1:]
                scores[alpha, True] = np.abs(x_ok @ coef - y_val[ok]).mean(axis=0)
                if len(at) and toward[at[0], 0] > 0:
                    flat = coef - toward * (coef[at[0]] / toward[at[0], 0])
                    scores[alpha, False] = np.abs(x_ok @ flat - y_val[ok]).mean(axis=0)
        reference = scores[middle, True]
        total = {k: float((s / np.where(reference > 0, reference, 1.0)).sum()) for k, s in scores.items()}
        return min(total, key=lambda k: (total[k], -k[0], k[1]))


CUSTOMER_PRIOR_GRID: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, math.inf)
# Conformal groups by how much the history knows about the customer: its first project, its second, or later.
# The customer effect is estimated better with every earlier project, so each group gets its own quantiles.
GROUPS = ("new", "second", "later")


# A field's error scale relative to the history's is kept within these bounds: a level seen on few projects, or a
# field whose effects add up to extremes, cannot make an interval vanish or swallow every outcome.
FIELD_SCALE_RANGE = (0.25, 4.0)


@dataclass(frozen=True)
class FieldSpread:
    """How the size of the errors varies with the stated fields (segment, industry, type, ...).

    Histories are rarely equally predictable everywhere (small customers' outcomes vary more than large ones'):
    an interval as wide for every input covers too much where outcomes are steady and too little where they
    are not, right on average and wrong for each kind of input. A ridge of the absolute out-of-fold residual on
    the one-hot columns of the pattern's stated fields says, per opportunity, how large its error is likely to
    be; relative to the history rows' mean it scales the interval (where calibration finds that it helps) and
    it is a component of the confidence score. Fitted on the calibration model's own history rows, never on
    the validation projects.

    Each field's levels are shrunk by as many pseudo-projects as its own spread between levels warrants (see
    ``_level_penalty``): a segment of hundreds of projects keeps its own error size, a partner seen on twenty
    mostly takes the history's (the mean absolute residual of twenty projects is itself uncertain by 17%).
    """

    coef: np.ndarray  # over every design column (zero outside the fields' columns); column 0 is the intercept
    mean: float  # the mean expected absolute error over the rows it was fitted on

    @classmethod
    def fit(cls, fields: FieldColumns, residuals: np.ndarray) -> FieldSpread | None:
        known = np.flatnonzero(np.isfinite(residuals))
        if len(known) < 50:
            return None
        size = np.abs(residuals[known])
        xs = fields.x[known]
        spans = itertools.pairwise(np.cumsum([1, *fields.widths]))  # each field's place among the columns
        penalty = np.concatenate([[1e-9], *(np.full(j - i, _level_penalty(xs[:, i:j], size)) for i, j in spans)])
        a = (xs.T @ xs).toarray()
        a[np.diag_indices_from(a)] += penalty
        beta = np.linalg.solve(a, xs.T @ size)
        coef = np.zeros(fields.n_columns)
        coef[fields.columns] = beta
        mean = float(np.mean(xs @ beta))
        return cls(coef, mean) if mean > 0 else None

    def expected(self, x: sparse.spmatrix) -> np.ndarray:
        """The expected absolute error (model scale) per row of ``x``."""
        return np.asarray(x @ self.coef).ravel()

    def scale(self, x: sparse.spmatrix) -> np.ndarray:
        """Per row of ``x``: its expected error relative to the history's, within FIELD_SCALE_RANGE."""
        return np.clip(self.expected(x) / self.mean, *FIELD_SCALE_RANGE)


@dataclass(frozen=True)
class FieldColumns:
    """The design's intercept and stated fields' one-hot columns, taken out of the design once per pattern: the
    design holds every word too (tens of entries a row), its few field columns one entry a field."""

    x: sparse.csr_matrix  # the history's rows, these columns only
    columns: np.ndarray  # the design columns, in order: the intercept, then each field's
    widths: list[int]  # each field's number of columns
    n_columns: int  # the design's

    @classmethod
    def of(cls, x: sparse.csr_matrix, blocks: list[np.ndarray]) -> FieldColumns:
        columns = np.concatenate([[0], *blocks]).astype(np.int64)
        return cls(x[:, columns].tocsr(), columns, [len(b) for b in blocks], x.shape[1])


# The pseudo-projects a field gets when its levels' error sizes do not differ beyond chance: its levels then
# take the history's error size.
NO_SPREAD_PENALTY = 1e9


def _level_penalty(onehot: sparse.spmatrix, size: np.ndarray) -> float:
    """Pseudo-projects per level: the within-level variance of ``size`` over the variance of the levels' true
    means (the one-way random-effects moment estimator, on the rows that state the field)."""
    counts = np.asarray(onehot.sum(axis=0)).ravel()
    stated = np.asarray(onehot.sum(axis=1)).ravel() > 0
    n, levels = counts.sum(), int((counts > 0).sum())
    if levels < 2 or n <= levels:
        return NO_SPREAD_PENALTY
    sums = onehot.T @ size
    means = sums[counts > 0] / counts[counts > 0]
    grand = size[stated].mean()
    within = (float(np.square(size[stated]).sum()) - float((sums[counts > 0] * means).sum())) / (n - levels)
    between = float((counts[counts > 0] * np.square(means - grand)).sum())
    spread = (between - (levels - 1) * within) / (n - float(np.square(counts).sum()) / n)
    return within / spread if spread > 0 else NO_SPREAD_PENALTY


@dataclass(frozen=True)
class Calibration:
    """What the latest part of the history taught about this target's errors."""

    shrinkage: float  # pseudo-analogs pulling the analog correction towards zero
    customer_prior: float  # pseudo-projects pulling the customer's own effect towards zero
    sigma: float  # typical scale of residuals (robust sd)
    quantiles: dict[str, tuple[float, float]]  # group → quantiles of residual / local scale
    typical_half_width: float  # median interval half-width on the validation projects
    scale_prior: float = SCALE_PRIOR_GRID[0]  # see SCALE_PRIOR_GRID
    field_spread: FieldSpread | None = None  # how the errors' size varies with the stated fields
    scales_by_fields: bool = False  # whether the interval's scale follows field_spread (chosen in calibration)
    # Confidence level → quantiles of residual / the group interval's half-width: each level's own coverage.
    level_quantiles: dict[str, tuple[float, float]] = field(default_factory=dict)

    def field_scale(self, x: sparse.spmatrix) -> np.ndarray:
        """Per row of ``x`` (design rows of opportunities): how its stated fields scale the interval."""
        if self.scales_by_fields and self.field_spread is not None:
            return self.field_spread.scale(x)
        return np.ones(x.shape[0])


@dataclass(frozen=True)
class TargetModel:
    name: str
    ridge: Ridge
    residuals: np.ndarray  # out-of-fold, per history row; NaN where the outcome is unknown
    calibration: Calibration
    known_rows: int  # history rows where this outcome is known
    baseline: float  # the mean outcome: the constant guess the model's skill is measured against

    @property
    def usable(self) -> bool:
        return self.known_rows >= MIN_KNOWN_ROWS


@dataclass(frozen=True)
class Evidence:
    """What the history offers for one outcome, for a batch of queries (one row each, model scale).

    Batches let calibration try every shrinkage on thousands of validation projects at numpy speed; an
    analysis is a batch of one.
    """

    base: np.ndarray  # (Q,) the regression's predictions
    analog_residuals: np.ndarray  # (Q, K) other customers' analogs; NaN where absent or the customer's own
    weights: np.ndarray  # (Q, K) relative analog weights
    customer_sum: np.ndarray  # (Q,) sum of the customer's earlier residuals
    customer_count: np.ndarray  # (Q,) how many there are
    extra_variance: np.ndarray  # (Q,) uncertainty of the fields the opportunity did not state
    field_scale: np.ndarray  # (Q,) the stated fields' typical error relative to the history's (1: no difference)

    @classmethod
    def single(
        cls,
        base: float,
        analog_residuals: np.ndarray,
        weights: np.ndarray,
        customer_residuals: np.ndarray,
        extra_variance: float = 0.0,
        field_scale: float = 1.0,
    ) -> Evidence:
        own = customer_residuals[np.isfinite(customer_residuals)]
        return cls(
            base=np.array([base]),
            analog_residuals=analog_residuals[None, :].astype(float),
            weights=weights[None, :].astype(float),
            customer_sum=np.array([own.sum()]),
            customer_count=np.array([float(len(own))]),
            extra_variance=np.array([extra_variance]),
            field_scale=np.array([field_scale]),
        )

    @classmethod
    def stack(cls, items: list[Evidence]) -> Evidence:
        width = max((e.weights.shape[1] for e in items), default=0)

        def pad(a: np.ndarray, fill: float) -> np.ndarray:
            return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)

        return cls(
            base=np.concatenate([e.base for e in items]),
            analog_residuals=np.vstack([pad(e.analog_residuals, np.nan) for e in items]),
            weights=np.vstack([pad(e.weights, 0.0) for e in items]),
            customer_sum=np.concatenate([e.customer_sum for e in items]),
            customer_count=np.concatenate([e.customer_count for e in items]),
            extra_variance=np.concatenate([e.extra_variance for e in items]),
            field_scale=np.concatenate([e.field_scale for e in items]),
        )

    @property
    def groups(self) -> np.ndarray:
        names: np.ndarray = np.array(GROUPS)[np.minimum(self.customer_count, 2).astype(int)]
        return names


@dataclass(frozen=True)
class RawEstimate:
    base: float  # regression prediction (transformed scale)
    center: float  # after customer and analog corrections
    low: float
    high: float
    adjusted: np.ndarray  # each analog's outcome moved to the opportunity (transformed scale; NaN if unknown)


def robust_sigma(residuals: np.ndarray) -> float:
    r = residuals[np.isfinite(residuals)]
    if len(r) < 2:
        return 1.0
    return float(1.4826 * np.median(np.abs(r - np.median(r)))) or float(np.std(r)) or 1.0


def correct(
    ev: Evidence, shrinkage: float, customer_prior: float, sigma: float, scale_prior: float = SCALE_PRIOR_GRID[0]
) -> tuple[np.ndarray, np.ndarray]:
    """Corrected centers and local residual scales for a batch of queries.

    The customer's own earlier residuals estimate its lasting effect (a random effect, shrunk by
    ``customer_prior`` pseudo-projects); the other analogs' residuals add what similar projects share, shrunk
    by ``shrinkage`` pseudo-analogs. The local scale is their spread around that correction, mixed with the
    history's ``sigma`` as the stated fields scale it (``scale_prior`` pseudo-analogs of it), plus what the
    unstated fields could change.
    """
    if math.isinf(customer_prior):
        customer = np.zeros_like(ev.base)
    else:
        customer = ev.customer_sum / (ev.customer_count + customer_prior)
    ok = np.isfinite(ev.analog_residuals)
    r = np.where(ok, ev.analog_residuals, 0.0)
    w = np.where(ok, ev.weights, 0.0)
    total, squares = w.sum(axis=1), np.square(w).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Relative weights become an evidence count (the effective number of analogs).
        n_eff = np.where(squares > 0, total**2 / squares, 0.0)
        w = np.where(total[:, None] > 0, w / total[:, None] * n_eff[:, None], 0.0)
    delta = np.zeros_like(ev.base) if math.isinf(shrinkage) else (w * r).sum(axis=1) / (n_eff + shrinkage)
    prior = np.square(sigma * ev.field_scale)
    if math.isinf(scale_prior):
        spread = prior
    else:
        spread = ((w * (r - delta[:, None]) ** 2).sum(axis=1) + scale_prior * prior) / (n_eff + scale_prior)
    return ev.base + customer + delta, np.sqrt(spread + ev.extra_variance)


def group_interval(cal: Calibration, groups: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    """Intervals from the customer-group quantiles (the first stage; the confidence level is read from it)."""
    q = np.array([cal.quantiles.get(str(g)) or cal.quantiles["all"] for g in groups]).reshape(len(groups), 2)
    return centers + q[:, 0] * scales, centers + q[:, 1] * scales


def estimate(model: TargetModel, ev: Evidence, analog_residuals: np.ndarray, level: str | None = None) -> RawEstimate:
    """One query's estimate (``ev`` is a batch of one) with its calibrated interval.

    With a confidence ``level`` the group interval is rescaled by that level's own quantiles, so that each
    level covers its nominal share on the validation projects, not only all of them together.
    """
    cal = model.calibration
    centers, scales = correct(ev, cal.shrinkage, cal.customer_prior, cal.sigma, cal.scale_prior)
    low, high = group_interval(cal, ev.groups, centers, scales)
    center, lo, hi = float(centers[0]), float(low[0]), float(high[0])
    if level is not None and level in cal.level_quantiles:
        half = (hi - lo) / 2
        q_low, q_high = cal.level_quantiles[level]
        lo, hi = center + q_low * half, center + q_high * half
    return RawEstimate(
        base=float(ev.base[0]),
        center=center,
        low=lo,
        high=hi,
        adjusted=float(ev.base[0]) + analog_residuals,
    )


def conformal_quantiles(normalized: np.ndarray, level: float) -> tuple[float, float]:
    """Split-conformal quantiles of signed, locally scaled residuals (finite-sample corrected)."""
    e = np.sort(normalized[np.isfinite(normalized)])
    n = len(e)
    if n < 10:
        z = float(ndtri(0.5 + level / 2))  # too few to calibrate: assume normal residuals
        return -z, z
    tail = (1 - level) / 2
    lo_rank = max(math.floor(tail * (n + 1)) - 1, 0)
    hi_rank = min(math.ceil((1 - tail) * (n + 1)) - 1, n - 1)
    return float(e[lo_rank]), float(e[hi_rank])
