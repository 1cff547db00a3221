"""Learning the engine's settings from the history itself, on a split by time, per input pattern.

The most recent part of the history plays the role of "new opportunities": the regression's penalty, the
analog shrinkage, the interval quantiles and the confidence cut points are chosen to do well there, with
models that only saw the older part. Each recent project is restated in every input pattern (only the five
required fields; the customer's profile; everything), so the intervals and confidence levels of a pattern
are measured on inputs that state exactly what that pattern states. Nothing is tuned on the projects it is
later judged on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from oppscope.analysis import confidence
from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.core import TARGETS, Core, Design, TargetParams, build_core, target_values
from oppscope.analysis.dataset import History
from oppscope.analysis.features import Profiles
from oppscope.analysis.patterns import PATTERNS, Pattern, restate
from oppscope.analysis.regression import (
    CUSTOMER_PRIOR_GRID,
    GROUPS,
    SHRINKAGE_GRID,
    Calibration,
    Evidence,
    NormalEquations,
    conformal_quantiles,
    correct,
    group_interval,
    loss,
    robust_sigma,
)
from oppscope.analysis.resolve import history_row_as_opportunity

MIN_ROWS_TO_CALIBRATE = 150
VALIDATION_FRACTION = 0.2
MAX_VALIDATION_QUERIES = 800  # per pattern
MIN_GROUP_SIZE = 40
DEFAULT_ALPHA = 3.0
# A level is only given where the validation projects tell it apart: its median ARR error at most this
# share of the next lower level's, with at least MIN_GROUP_SIZE projects in each.
SEPARATION = 0.95
LEVELS = ("HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class PatternParams:
    targets: dict[str, TargetParams]
    confidence_cuts: tuple[float, float]  # LOW below the first, HIGH from the second (±inf: level not given)
    validation: dict[str, float] = field(default_factory=dict)  # figures for the methodology section
    score_model: confidence.ScoreModel | None = None

    @property
    def arr_skill(self) -> float:
        """Share of a constant guess's ARR error the engine removed on validation (0 when not validated)."""
        return self.validation.get("arr_skill", 0.0)


@dataclass(frozen=True)
class EngineParams:
    patterns: dict[str, PatternParams]

    @property
    def targets(self) -> dict[str, dict[str, TargetParams]]:
        return {name: p.targets for name, p in self.patterns.items()}


def validation_cut(n: int) -> int:
    """Rows before this train the calibration models; the rest validate them (all rows when too few)."""
    return int(n * (1 - VALIDATION_FRACTION)) if n >= MIN_ROWS_TO_CALIBRATE else n


def default_params() -> EngineParams:
    """Small histories: fixed penalties, normal intervals, fixed confidence cut points."""
    fixed = PatternParams({t: TargetParams(DEFAULT_ALPHA, None) for t in TARGETS}, confidence.DEFAULT_CUTS)
    return EngineParams(dict.fromkeys((p.name for p in PATTERNS), fixed))


def calibrate(
    history: History,
    design: Design,
    equations: list[NormalEquations],
    profiles: Profiles,
    analog_count: int,
    level: float,
) -> EngineParams:
    """Settings for an engine on ``history``; ``equations`` were built with ``validation_cut`` rows as older."""
    cut = validation_cut(history.n)
    if cut >= history.n:
        return default_params()
    position = np.arange(history.n)
    train, val = history.subset(position < cut), history.subset(position >= cut)
    x_val = design.x[cut:]
    alphas: dict[str, float] = {}
    for eq in equations:
        enough = (eq.segment[:cut] >= 0).sum() >= 20 and (eq.segment[cut:] >= 0).sum() >= 10
        alpha = eq.select_alpha(x_val, design.columns[PATTERNS[-1].name], cut) if enough else DEFAULT_ALPHA
        alphas |= dict.fromkeys(eq.names, alpha)
    provisional = {p.name: {t: TargetParams(a, None) for t, a in alphas.items()} for p in PATTERNS}
    core = build_core(train, design, equations, provisional, level, profiles, newest=False)
    step = max(1, val.n // MAX_VALIDATION_QUERIES)
    rows = np.arange(0, val.n, step)
    opportunities = [history_row_as_opportunity(val, int(i)) for i in rows]
    return EngineParams({
        p.name: _calibrate_pattern(core, p, opportunities, val, rows, alphas, analog_count, level) for p in PATTERNS
    })


def _calibrate_pattern(
    core: Core,
    pattern: Pattern,
    opportunities: list[Opportunity],
    val: History,
    rows: np.ndarray,
    alphas: dict[str, float],
    analog_count: int,
    level: float,
) -> PatternParams:
    evidence: dict[str, list[Evidence]] = {t: [] for t in TARGETS}
    queries = []
    for opportunity in opportunities:
        prepared = core.prepare(restate(opportunity, pattern), pattern)
        analogs = core.analogs(prepared, analog_count)
        queries.append((analogs, prepared))
        for name, ev in core.evidence(prepared, analogs).items():
            evidence[name].append(ev)
    models = core.pattern_models[pattern.name]
    fitted: dict[str, tuple[Calibration, np.ndarray, np.ndarray, np.ndarray]] = {}
    validation: dict[str, float] = {"validation_queries": float(len(rows)), "train_rows": float(core.history.n)}
    for name, log_scale in TARGETS.items():
        actual = target_values(val, name)[rows]
        batch = Evidence.stack(evidence[name])
        cal, center, half = _calibrate_target(core, pattern, name, batch, actual, level)
        ok = np.isfinite(actual)
        # Money: median absolute percentage error; months: mean absolute error.
        err = float(np.median(np.abs(np.expm1(center[ok] - actual[ok])))) if log_scale else loss(center - actual)
        skill = 1.0 - loss(center - actual) / loss(models[name].baseline - actual)
        fitted[name] = (cal, center, half, actual)
        validation |= {f"{name}_error": err, f"{name}_alpha": alphas[name], f"{name}_shrinkage": cal.shrinkage,
                       f"{name}_customer_prior": cal.customer_prior, f"{name}_skill": skill}
    arr_cal, arr_center, arr_half, arr_actual = fitted["arr"]
    typical = arr_cal.typical_half_width
    parts = [confidence.components(float(w), typical, a) for w, (a, _) in zip(arr_half, queries, strict=True)]
    score_model = confidence.ScoreModel.fit(parts, np.abs(arr_actual - arr_center))
    scores = np.array([
        confidence.score(c, len(p.resolution.unknown), score_model) for c, (_, p) in zip(parts, queries, strict=True)
    ])
    n_eff = np.array([a.effective_count for a, _ in queries])
    ape = np.abs(np.expm1(arr_center - arr_actual))
    cuts = _separable_cuts(scores, n_eff, ape, validation["arr_skill"])
    skill = validation["arr_skill"]
    levels = np.array([confidence.level(s, cuts, e, skill) for s, e in zip(scores, n_eff, strict=True)])
    targets: dict[str, TargetParams] = {}
    for name, (cal, center, half, actual) in fitted.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            normalized = (actual - center) / half
        per_level = {
            lv: conformal_quantiles(normalized[levels == lv], level)
            for lv in LEVELS
            if np.isfinite(normalized[levels == lv]).sum() >= MIN_GROUP_SIZE
        }
        targets[name] = TargetParams(alphas[name], replace(cal, level_quantiles=per_level))
    for lv in LEVELS:
        validation[f"{lv.lower()}_share"] = float(np.mean(levels == lv)) if len(levels) else 0.0
    return PatternParams(targets, cuts, validation, score_model)


def _separable_cuts(scores: np.ndarray, n_eff: np.ndarray, ape: np.ndarray, skill: float) -> tuple[float, float]:
    """The 30th/70th score percentiles, less any level whose error the validation cannot tell apart."""
    if len(scores) < 3 * MIN_GROUP_SIZE:
        return confidence.DEFAULT_CUTS
    low, high = float(np.percentile(scores, 30)), float(np.percentile(scores, 70))

    def median_error(cuts: tuple[float, float], lv: str) -> float:
        levels = np.array([confidence.level(s, cuts, e, skill) for s, e in zip(scores, n_eff, strict=True)])
        chosen = ape[(levels == lv) & np.isfinite(ape)]
        return float(np.median(chosen)) if len(chosen) >= MIN_GROUP_SIZE else math.nan

    if not median_error((low, high), "HIGH") <= SEPARATION * median_error((low, high), "MEDIUM"):
        high = math.inf
    if not median_error((low, high), "MEDIUM") <= SEPARATION * median_error((low, high), "LOW"):
        low = -math.inf
    return low, high


def _calibrate_target(
    core: Core, pattern: Pattern, name: str, evidence: Evidence, actual: np.ndarray, level: float
) -> tuple[Calibration, np.ndarray, np.ndarray]:
    """Choose the two shrinkages on the validation projects, then conformal quantiles per customer group.

    Returns the calibration, the corrected centers and the group intervals' half-widths.
    """
    sigma = robust_sigma(core.pattern_models[pattern.name][name].residuals)
    grid = [(k, c) for k in SHRINKAGE_GRID for c in CUSTOMER_PRIOR_GRID]
    shrinkage, prior = min(grid, key=lambda kc: loss(correct(evidence, kc[0], kc[1], sigma)[0] - actual))
    center, scales = correct(evidence, shrinkage, prior, sigma)
    normalized = (actual - center) / scales
    groups = evidence.groups
    quantiles = {"all": conformal_quantiles(normalized, level)}
    for g in GROUPS:
        if (groups == g).sum() >= MIN_GROUP_SIZE:
            quantiles[g] = conformal_quantiles(normalized[groups == g], level)
    calibration = Calibration(
        shrinkage=shrinkage, customer_prior=prior, sigma=sigma, quantiles=quantiles, typical_half_width=sigma
    )
    low, high = group_interval(calibration, groups, center, scales)
    half = (high - low) / 2
    typical = float(np.median(half)) if len(half) else sigma
    return Calibration(
        shrinkage=shrinkage, customer_prior=prior, sigma=sigma, quantiles=quantiles, typical_half_width=typical
    ), center, half
