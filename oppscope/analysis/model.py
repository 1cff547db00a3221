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


@dataclass(frozen=True)
class Ridge:
    coef: np.ndarray
    intercept: float

    def predict(self, x: sparse.spmatrix) -> np.ndarray:
        return np.asarray(x @ self.coef).ravel() + self.intercept


def fit_ridge(x: sparse.csr_matrix, y: np.ndarray, alpha: float) -> Ridge:
    mean = float(y.mean()) if len(y) else 0.0
    if not len(y):
        return Ridge(np.zeros(x.shape[1]), mean)
    coef = lsqr(x, y - mean, damp=math.sqrt(alpha), atol=1e-7, btol=1e-7, iter_lim=1000)[0]
    return Ridge(coef, mean)


def loss(errors: np.ndarray, log_scale: bool) -> float:
    """Median absolute error for money (log scale ≈ median APE), mean absolute error for months."""
    a = np.abs(errors[np.isfinite(errors)])
    if not len(a):
        return math.inf
    return float(np.median(a) if log_scale else a.mean())


def select_alpha(
    x_train: sparse.csr_matrix, y_train: np.ndarray, x_val: sparse.csr_matrix, y_val: np.ndarray, log_scale: bool
) -> float:
    best = min(ALPHAS, key=lambda a: loss(fit_ridge(x_train, y_train, a).predict(x_val) - y_val, log_scale))
    return float(best)


def out_of_fold_residuals(x: sparse.csr_matrix, y: np.ndarray, alpha: float, folds: int = FOLDS) -> np.ndarray:
    """Residuals of each row under a model that did not see it (interleaved folds keep time balanced)."""
    residuals = np.full(len(y), np.nan)
    if len(y) < 2 * folds:
        return residuals
    fold = np.arange(len(y)) % folds
    for f in range(folds):
        held = fold == f
        model = fit_ridge(x[~held], y[~held], alpha)
        residuals[held] = y[held] - model.predict(x[held])
    return residuals


CUSTOMER_PRIOR_GRID: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, math.inf)
GROUPS = ("repeat", "new")  # conformal groups: customers the history knows, and first projects


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
    log_scale: bool
    ridge: Ridge
    residuals: np.ndarray  # out-of-fold, per history row; NaN where the outcome is unknown
    calibration: Calibration


@dataclass(frozen=True)
class Evidence:
    """What the history offers for one query and one outcome, on the model's scale."""

    base: float  # the regression's prediction
    analog_residuals: np.ndarray  # other customers' analogs (NaN for this customer's own rows)
    weights: np.ndarray
    customer_residuals: np.ndarray  # this customer's earlier projects
    extra_variance: float  # uncertainty of the fields the opportunity did not state

    @property
    def group(self) -> str:
        return "repeat" if np.isfinite(self.customer_residuals).any() else "new"


@dataclass(frozen=True)
class RawEstimate:
    base: float  # regression prediction (transformed scale)
    center: float  # after customer and analog corrections
    local_scale: float
    low: float
    high: float
    adjusted: np.ndarray  # each analog's outcome moved to the opportunity (transformed scale; NaN if unknown)


def robust_sigma(residuals: np.ndarray) -> float:
    r = residuals[np.isfinite(residuals)]
    if len(r) < 2:
        return 1.0
    return float(1.4826 * np.median(np.abs(r - np.median(r)))) or float(np.std(r)) or 1.0


def correct(ev: Evidence, shrinkage: float, customer_prior: float, sigma: float) -> tuple[float, float]:
    """Corrected center and local residual scale for one query.

    The customer's own earlier residuals estimate its lasting effect (a random effect, shrunk by
    ``customer_prior``); the other analogs' residuals add what similar projects share, shrunk by ``shrinkage``.
    """
    own = ev.customer_residuals[np.isfinite(ev.customer_residuals)]
    customer = 0.0 if math.isinf(customer_prior) or not len(own) else float(own.sum() / (len(own) + customer_prior))
    ok = np.isfinite(ev.analog_residuals)
    r, w = ev.analog_residuals[ok], ev.weights[ok]
    if not len(r):
        return ev.base + customer, math.sqrt(sigma**2 + ev.extra_variance)
    # Weights are relative; turn them into an evidence count so shrinkage means "pseudo-analogs".
    n_eff = float(w.sum() ** 2 / np.square(w).sum())
    w = w / w.sum() * n_eff
    delta = 0.0 if math.isinf(shrinkage) else float((w * r).sum() / (w.sum() + shrinkage))
    spread = (float((w * (r - delta) ** 2).sum()) + SCALE_PRIOR * sigma**2) / (w.sum() + SCALE_PRIOR)
    return ev.base + customer + delta, math.sqrt(spread + ev.extra_variance)


def estimate(model: TargetModel, ev: Evidence, analog_residuals: np.ndarray) -> RawEstimate:
    cal = model.calibration
    center, scale = correct(ev, cal.shrinkage, cal.customer_prior, cal.sigma)
    q_low, q_high = cal.quantiles.get(ev.group) or cal.quantiles["all"]
    return RawEstimate(
        base=ev.base,
        center=center,
        local_scale=scale,
        low=center + q_low * scale,
        high=center + q_high * scale,
        adjusted=ev.base + analog_residuals,
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
