"""Everything learned from one history: feature layout, similarity index and one model per outcome.

``build_core`` is used twice: on the older part of the history to calibrate (how large are the errors on
the most recent projects?), then on the whole history with those calibrations for real analyses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.special import ndtri

from oppscope.analysis.dataset import History
from oppscope.analysis.features import MODEL_BLOCKS, FeatureSpace, Profile, history_profiles
from oppscope.analysis.model import (
    Calibration,
    Evidence,
    Ridge,
    TargetModel,
    fit_ridge,
    out_of_fold_residuals,
    robust_sigma,
)
from oppscope.analysis.models import Opportunity
from oppscope.analysis.resolve import Resolution, Vocabulary, close_year_of, resolve
from oppscope.analysis.similarity import BLOCK_WEIGHTS, Analogs, Query, SimilarityIndex

# Outcome → modelled on the log scale? Money is multiplicative (a bigger customer scales every service);
# months are additive (a procurement step adds weeks whatever the size).
TARGETS: dict[str, bool] = {"arr": True, "ttl": False, "duration": False}


def target_values(history: History, name: str) -> np.ndarray:
    """An outcome on the scale its model works in (log for money); NaN where it is unknown."""
    raw = {"arr": history.arr, "ttl": history.ttl_months, "duration": history.duration_months}[name]
    if not TARGETS[name]:
        return raw.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(raw > 0, np.log(raw), np.nan)


@dataclass(frozen=True)
class TargetParams:
    alpha: float
    calibration: Calibration | None  # None while calibrating: filled from the out-of-fold residuals


@dataclass(frozen=True)
class PreparedQuery:
    resolution: Resolution
    query: Query
    x: sparse.csr_matrix
    missing_variance: dict[str, float]  # per target: spread added because some fields were not stated


@dataclass
class Core:
    history: History
    vocab: Vocabulary
    space: FeatureSpace
    index: SimilarityIndex
    models: dict[str, TargetModel]
    block_variance: dict[str, dict[str, float]]  # target → block → variance of its effects
    customer_rows: dict[str, np.ndarray]  # normalized customer → its rows

    def prepare(self, opportunity: Opportunity) -> PreparedQuery:
        resolution = resolve(opportunity, self.vocab, self.history, close_year_of(opportunity))
        profile = resolution.profile
        codes = {b: self.index.code(b, v) for b, v in profile.categorical.items() if v and b in BLOCK_WEIGHTS}
        tf = self.space.tfidf([profile])
        query = Query(codes=codes, text_cols=tf.indices, text_vals=tf.data, close_year=profile.close_year)
        known = {b for b, v in profile.categorical.items() if v in self.space.levels.get(b, {})}
        missing = {
            t: float(sum(v for b, v in per_block.items() if b not in known))
            for t, per_block in self.block_variance.items()
        }
        return PreparedQuery(resolution, query, self.space.matrix([profile]), missing)

    def analogs(self, prepared: PreparedQuery, k: int) -> Analogs:
        return self.index.nearest(prepared.query, k)

    def evidence(self, prepared: PreparedQuery, analogs: Analogs) -> dict[str, Evidence]:
        """Per outcome: the regression's prediction, the customer's own residuals and the analogs'."""
        own_rows = self.customer_rows.get(prepared.resolution.profile.categorical["customer"], np.zeros(0, int))
        others = ~np.isin(analogs.index, own_rows)
        out: dict[str, Evidence] = {}
        for name, model in self.models.items():
            analog_res = np.where(others, model.residuals[analogs.index], np.nan)
            out[name] = Evidence.single(
                base=float(model.ridge.predict(prepared.x)[0]),
                analog_residuals=analog_res,
                weights=analogs.weight,
                customer_residuals=model.residuals[own_rows],
                extra_variance=prepared.missing_variance.get(name, 0.0),
            )
        return out


def _block_variance(space: FeatureSpace, ridge: Ridge) -> dict[str, float]:
    """How much each field moves the prediction across its levels (what not knowing it costs)."""
    out: dict[str, float] = {}
    for block in MODEL_BLOCKS:
        cols = list(space.levels[block].values())
        if not cols:
            continue
        p = space.level_freq[block]
        beta = ridge.coef[cols]
        mean = float(p @ beta)
        out[block] = float(p @ (beta - mean) ** 2)
    return out


@dataclass(frozen=True)
class Design:
    """The feature layout learned from some profiles, and their design matrix."""

    space: FeatureSpace
    x: sparse.csr_matrix

    @classmethod
    def of(cls, profiles: Sequence[Profile]) -> Design:
        space = FeatureSpace.fit(profiles)
        return cls(space, space.matrix(profiles))


def build_core(
    history: History,
    params: dict[str, TargetParams],
    level: float,
    profiles: Sequence[Profile] | None = None,
    design: Design | None = None,
) -> Core:
    """``profiles`` and ``design`` may be passed when the caller already built them for this history."""
    profiles = history_profiles(history) if profiles is None else profiles
    design = design or Design.of(profiles)
    space, x = design.space, design.x
    index = SimilarityIndex(history, space.tfidf(profiles))
    models: dict[str, TargetModel] = {}
    variance: dict[str, dict[str, float]] = {}
    for name in TARGETS:
        p = params[name]
        y = target_values(history, name)
        ok = np.isfinite(y)
        ridge = fit_ridge(x[ok], y[ok], p.alpha)
        residuals = np.full(history.n, np.nan)
        residuals[ok] = out_of_fold_residuals(x[ok], y[ok], p.alpha, ridge)
        if p.calibration is None:
            calibration = provisional_calibration(residuals, level)
        else:
            # Quantiles are in units of the local scale, so they carry over; the scale itself is measured on
            # this model's own residuals (a model fitted on more history errs less than the calibration one).
            calibration = replace(p.calibration, sigma=robust_sigma(residuals))
        models[name] = TargetModel(name, ridge, residuals, calibration, int(ok.sum()))
        variance[name] = _block_variance(space, ridge)
    rows: dict[str, list[int]] = {}
    for i, c in enumerate(history.keys["customer"]):
        if c:
            rows.setdefault(c, []).append(i)
    customer_rows = {c: np.array(r) for c, r in rows.items()}
    return Core(history, Vocabulary.build(history), space, index, models, variance, customer_rows)


def provisional_calibration(residuals: np.ndarray, level: float) -> Calibration:
    """Used while calibrating, and for histories too small to calibrate: normal residuals assumed."""
    sigma = robust_sigma(residuals)
    z = float(ndtri(0.5 + level / 2))
    return Calibration(
        shrinkage=2.0,
        customer_prior=1.0,
        sigma=sigma,
        quantiles={"all": (-z, z)},
        typical_half_width=z * sigma,
    )
