"""The learned part of the engine: a ridge regression per outcome, corrected by the analogs' residuals.

Why this shape: the regression explains how outcomes move with segment, industry, country, scope and time,
so an analog that differs from the opportunity can be *adjusted* (its residual, not its raw value, is what
carries over). The analogs then add what the regression cannot see (this customer, this kind of deal), with
shrinkage towards zero when they are few. Residuals are out-of-fold so they are honest about error, and the
interval is split-conformal on the latest part of the history, scaled by the analogs' local spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import lsqr
from scipy.special import ndtri

ALPHAS: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0)
SHRINKAGE_GRID: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, math.inf)
SCALE_PRIOR = 4.0  # pseudo-analogs of global spread mixed into the local spread
FOLDS = 3
MIN_KNOWN_ROWS = 5  # fewer rows with an outcome than this and the engine says it cannot estimate it


@dataclass(frozen=True)
class Ridge:
    coef: np.ndarray
    intercept: float

    def predict(self, x: sparse.spmatrix) -> np.ndarray:
        return np.asarray(x @ self.coef).ravel() + self.intercept


def fit_ridge(x: sparse.csr_matrix, y: np.ndarray, alpha: float, start: Ridge | None = None) -> Ridge:
    """Ridge by LSQR on the sparse design; ``start`` (a nearby solution) saves most of the iterations."""
    mean = float(y.mean()) if len(y) else 0.0
    if not len(y):
        return Ridge(np.zeros(x.shape[1]), mean)
    x0 = None if start is None else start.coef
    # 1e-6 relative tolerance is far below the noise of any history; tighter only costs iterations.
    coef = lsqr(x, y - mean, damp=math.sqrt(alpha), atol=1e-6, btol=1e-6, iter_lim=1000, x0=x0)[0]
    return Ridge(coef, mean)


def loss(errors: np.ndarray) -> float:
    """Mean absolute error on the model's scale, the criterion every setting is chosen by.

    On the log scale it tracks the median percentage error that is reported, but it uses every validation
    project rather than the middle one, so choices between close settings do not flip on row order.
    """
    a = np.abs(errors[np.isfinite(errors)])
    return float(a.mean()) if len(a) else math.inf


def select_alpha(
    x_train: sparse.csr_matrix, y_train: np.ndarray, x_val: sparse.csr_matrix, y_val: np.ndarray
) -> float:
    scores: dict[float, float] = {}
    previous: Ridge | None = None
    for alpha in sorted(ALPHAS, reverse=True):  # strongest penalty first: each solution starts the next
        previous = fit_ridge(x_train, y_train, alpha, start=previous)
        scores[alpha] = loss(previous.predict(x_val) - y_val)
    return min(scores, key=lambda a: (scores[a], -a))


def out_of_fold_residuals(
    x: sparse.csr_matrix, y: np.ndarray, alpha: float, full: Ridge, folds: int = FOLDS
) -> np.ndarray:
    """Residuals of each row under a model that did not see it (interleaved folds keep time balanced)."""
    residuals = np.full(len(y), np.nan)
    if len(y) < 2 * folds:
        return residuals
    fold = np.arange(len(y)) % folds
    for f in range(folds):
        held = fold == f
        model = fit_ridge(x[~held], y[~held], alpha, start=full)
        residuals[held] = y[held] - model.predict(x[held])
    return residuals


CUSTOMER_PRIOR_GRID: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, math.inf)
# Conformal groups by how much the history knows about the customer: its first project, its second, or later.
# The customer effect is estimated better with every earlier project, so each group gets its own quantiles.
GROUPS = ("new", "second", "later")


@dataclass(frozen=True)
class Calibration:
    """What the latest part of the history taught about this target's errors."""

    shrinkage: float  # pseudo-analogs pulling the analog correction towards zero
    customer_prior: float  # pseudo-projects pulling the customer's own effect towards zero
    sigma: float  # typical scale of residuals (robust sd)
    quantiles: dict[str, tuple[float, float]]  # group → quantiles of residual / local scale
    typical_half_width: float  # median interval half-width on the validation projects


@dataclass(frozen=True)
class TargetModel:
    name: str
    ridge: Ridge
    residuals: np.ndarray  # out-of-fold, per history row; NaN where the outcome is unknown
    calibration: Calibration
    known_rows: int  # history rows where this outcome is known

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

    @classmethod
    def single(
        cls,
        base: float,
        analog_residuals: np.ndarray,
        weights: np.ndarray,
        customer_residuals: np.ndarray,
        extra_variance: float = 0.0,
    ) -> Evidence:
        own = customer_residuals[np.isfinite(customer_residuals)]
        return cls(
            base=np.array([base]),
            analog_residuals=analog_residuals[None, :].astype(float),
            weights=weights[None, :].astype(float),
            customer_sum=np.array([own.sum()]),
            customer_count=np.array([float(len(own))]),
            extra_variance=np.array([extra_variance]),
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


def correct(ev: Evidence, shrinkage: float, customer_prior: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Corrected centers and local residual scales for a batch of queries.

    The customer's own earlier residuals estimate its lasting effect (a random effect, shrunk by
    ``customer_prior`` pseudo-projects); the other analogs' residuals add what similar projects share, shrunk
    by ``shrinkage`` pseudo-analogs. The local scale is their spread around that correction, mixed with the
    history's ``sigma``, plus what the unstated fields could change.
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
    spread = ((w * (r - delta[:, None]) ** 2).sum(axis=1) + SCALE_PRIOR * sigma**2) / (n_eff + SCALE_PRIOR)
    return ev.base + customer + delta, np.sqrt(spread + ev.extra_variance)


def estimate(model: TargetModel, ev: Evidence, analog_residuals: np.ndarray) -> RawEstimate:
    """One query's estimate (``ev`` is a batch of one) with its calibrated interval."""
    cal = model.calibration
    centers, scales = correct(ev, cal.shrinkage, cal.customer_prior, cal.sigma)
    center, scale = float(centers[0]), float(scales[0])
    q_low, q_high = cal.quantiles.get(str(ev.groups[0])) or cal.quantiles["all"]
    return RawEstimate(
        base=float(ev.base[0]),
        center=center,
        low=center + q_low * scale,
        high=center + q_high * scale,
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
