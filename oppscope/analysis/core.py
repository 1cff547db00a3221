"""Everything learned from one history: feature layout, similarity index and, per input pattern, one model per
outcome.

``build_core`` is used twice: on the older part of the history to calibrate (how large are the errors on
the most recent projects, for each input pattern?), then on the whole history with those calibrations for
real analyses. Both come from the same normal equations, so the second costs a few small dense solves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.special import ndtri

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import History, row_block
from oppscope.analysis.features import MODEL_BLOCKS, FeatureSpace, Profiles
from oppscope.analysis.patterns import PATTERNS, Pattern, pattern_for, restate, stated_fields, usual_fields
from oppscope.analysis.regression import (
    Calibration,
    Evidence,
    NormalEquations,
    Ridge,
    TargetModel,
    robust_sigma,
)
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
    trend: bool = True  # whether the model has a linear trend over close years (see NormalEquations.select_penalty)


@dataclass(frozen=True)
class PreparedQuery:
    resolution: Resolution
    pattern: Pattern
    query: Query
    x: sparse.csr_matrix
    missing_variance: dict[str, float]  # per target: spread added because some fields were not stated


@dataclass
class Core:
    history: History
    vocab: Vocabulary
    space: FeatureSpace
    index: SimilarityIndex
    pattern_models: dict[str, dict[str, TargetModel]]  # pattern → outcome → model
    block_variance: dict[str, dict[str, dict[str, float]]]  # pattern → target → block → variance of its effects
    usual: frozenset[str]  # optional fields the history states for most projects (see patterns.pattern_for)

    @property
    def models(self) -> dict[str, TargetModel]:
        """The fully stated pattern's models (which outcomes are usable does not depend on the pattern)."""
        return self.pattern_models[PATTERNS[-1].name]

    def prepare(self, opportunity: Opportunity, pattern: Pattern | None = None) -> PreparedQuery:
        """``pattern`` forces one (calibration restates rows in each); by default the input's own."""
        pattern = pattern or pattern_for(stated_fields(opportunity), self.usual)
        resolution = resolve(opportunity, self.vocab, self.history, close_year_of(opportunity))
        profile = resolution.profile
        codes = {b: self.index.code(b, v) for b, v in profile.categorical.items() if v and b in BLOCK_WEIGHTS}
        stated = Profiles.of([profile])  # read once, for both uses when the pattern takes every stated field
        tf = self.space.tfidf(stated)
        query = Query(codes=codes, text_cols=tf.indices, text_vals=tf.data, close_year=profile.close_year)
        # The regression sees only what the pattern states, exactly as in the rows it was calibrated on.
        used = restate(opportunity, pattern)
        model_profile = profile if used == opportunity else resolve(
            used, self.vocab, self.history, profile.close_year
        ).profile
        known = {b for b, v in model_profile.categorical.items() if v in self.space.levels.get(b, {})}
        missing = {
            t: float(sum(v for b, v in per_block.items() if b not in known))
            for t, per_block in self.block_variance[pattern.name].items()
        }
        x = self.space.matrix(stated if model_profile is profile else Profiles.of([model_profile]))
        return PreparedQuery(resolution, pattern, query, x, missing)

    def analogs(self, prepared: PreparedQuery, k: int) -> Analogs:
        return self.index.nearest(prepared.query, k)

    def evidence(self, prepared: PreparedQuery, analogs: Analogs) -> dict[str, Evidence]:
        """Per outcome: the regression's prediction, the customer's own residuals and the analogs'."""
        own_rows = self.index.customer_rows(prepared.resolution.profile.categorical["customer"])
        others = ~np.isin(analogs.index, own_rows)
        out: dict[str, Evidence] = {}
        for name, model in self.pattern_models[prepared.pattern.name].items():
            analog_res = np.where(others, model.residuals[analogs.index], np.nan)
            out[name] = Evidence.single(
                base=float(model.ridge.predict(prepared.x)[0]),
                analog_residuals=analog_res,
                weights=analogs.weight,
                customer_residuals=model.residuals[own_rows],
                extra_variance=prepared.missing_variance.get(name, 0.0),
                field_scale=float(model.calibration.field_scale(prepared.x)[0]),
            )
        return out


def _block_variance(space: FeatureSpace, ridge: Ridge, blocks: frozenset[str]) -> dict[str, float]:
    """How much each stated field moves the prediction across its levels (what not knowing it costs)."""
    out: dict[str, float] = {}
    for block in MODEL_BLOCKS:
        cols = list(space.levels[block].values())
        if not cols or block not in blocks:
            continue
        p = space.level_freq[block]
        beta = ridge.coef[cols]
        mean = float(p @ beta)
        out[block] = float(p @ (beta - mean) ** 2)
    return out


@dataclass(frozen=True)
class Design:
    """The feature layout learned from the history's profiles, its design matrix, its TF-IDF rows and each
    pattern's columns: everything later steps need from the profiles, so these can go after ``of``."""

    space: FeatureSpace
    x: sparse.csr_matrix
    tfidf: sparse.csr_matrix  # the history's rows, for the similarity index
    columns: dict[str, np.ndarray]  # pattern → the design columns its models use

    @classmethod
    def of(cls, profiles: Profiles) -> Design:
        space = FeatureSpace.fit(profiles)
        columns = {p.name: space.pattern_columns(p.blocks, p.business) for p in PATTERNS}
        return cls(space, space.matrix(profiles), space.tfidf(profiles), columns)

    def model_columns(self, pattern: str, trend: bool) -> np.ndarray:
        cols = self.columns[pattern]
        return cols if trend else cols[cols != self.space.year_column]


def build_core(
    history: History,
    design: Design,
    equations: list[NormalEquations],
    params: dict[str, dict[str, TargetParams]],
    level: float,
    *,
    newest: bool,
) -> Core:
    """The core over ``history``: all rows when ``newest``, else the older part the equations set aside.

    ``params`` is pattern → target → settings (outcomes sharing equations share a penalty).
    """
    rows = slice(0, history.n)
    space = design.space
    index = SimilarityIndex(history, row_block(design.tfidf, 0, history.n))
    pattern_models: dict[str, dict[str, TargetModel]] = {}
    variance: dict[str, dict[str, dict[str, float]]] = {}
    for pattern in PATTERNS:
        models: dict[str, TargetModel] = {}
        variance[pattern.name] = {}
        for eq in equations:
            shared = params[pattern.name][eq.names[0]]
            cols = design.model_columns(pattern.name, shared.trend)
            coefs, all_residuals = eq.fit(design.x, cols, shared.alpha, newest=newest)
            known = eq.segment[rows] >= 0
            for k, name in enumerate(eq.names):
                p = params[pattern.name][name]
                residuals = all_residuals[rows, k]
                ridge = Ridge(coefs[:, k].copy())
                if p.calibration is None:
                    calibration = provisional_calibration(residuals, level)
                else:
                    # Quantiles are in units of the local scale, so they carry over; the scale itself is measured
                    # on this model's own residuals (a model fitted on more history errs less than the
                    # calibration one). The typical width moves with it, so that an interval's width relative
                    # to the typical one (a confidence component) means what it meant in calibration.
                    sigma = robust_sigma(residuals)
                    typical = p.calibration.typical_half_width * sigma / p.calibration.sigma
                    calibration = replace(p.calibration, sigma=sigma, typical_half_width=typical)
                baseline = float(eq.y[rows][known, k].mean()) if known.any() else 0.0
                models[name] = TargetModel(name, ridge, residuals, calibration, int(known.sum()), baseline)
                variance[pattern.name][name] = _block_variance(space, ridge, pattern.blocks)
        pattern_models[pattern.name] = {name: models[name] for name in TARGETS}
    return Core(history, Vocabulary.build(history), space, index, pattern_models, variance, usual_fields(history))


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
