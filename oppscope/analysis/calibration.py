"""Learning the engine's settings from the history itself, on a split by time, per input pattern.

The most recent part of the history plays the role of "new opportunities": the regression's penalty, the
analog shrinkage, the interval quantiles and the confidence cut points are chosen to do well there, with
models that only saw the older part. Each recent project is restated in every input pattern (only the five
required fields; the customer's profile; everything), so the intervals and confidence levels of a pattern
are measured on inputs that state exactly what that pattern states. Nothing is tuned on the projects it is
later judged on.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse
from scipy.stats import mannwhitneyu, spearmanr

from oppscope.analysis import confidence
from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.core import TARGETS, Core, Design, TargetParams, build_core, target_values
from oppscope.analysis.dataset import History, row_block
from oppscope.analysis.patterns import PATTERNS, Pattern, restate
from oppscope.analysis.regression import (
    CUSTOMER_PRIOR_GRID,
    GROUPS,
    SCALE_PRIOR_GRID,
    SHRINKAGE_GRID,
    Calibration,
    Evidence,
    FieldColumns,
    FieldSpread,
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
# Validation projects analysed per pattern: at least MIN_VALIDATION_QUERIES (all of them when fewer), more
# while the work (queries × rows scanned per query) stays within QUERY_BUDGET. More projects make the
# interval quantiles and the tests that tell confidence levels apart surer (at 20,000 rows every validation
# project is analysed: 4,000 per pattern, calibration noise on an 80% coverage about ±0.6 points); at 80,000
# rows and above the count stays at the minimum, so large fits cost no more.
MIN_VALIDATION_QUERIES = 800
QUERY_BUDGET = 6.4e7
MIN_GROUP_SIZE = 40
DEFAULT_ALPHA = 3.0
# Levels are only given where the validation projects show that the score ranks errors at all (a one-sided
# Spearman test of the cross-fitted score against the ARR error, on every project) and tell each level apart
# from the next lower one (see _told_apart): a one-sided Mann-Whitney test on their ARR errors at this level,
# and the same ordering of medians in the older and the newer half of the validation projects. Cutting a
# score that does not rank errors into levels finds a gap at some percentile by chance; the rank test does not.
SEPARATION_P = 0.01  # two schemes, up to two comparisons each: strict, so a level given is a real one
# And a gap that lasts: a level's median ARR error on the validation projects at most this share of the next
# lower level's. Levels learned there move towards each other in use (on 20,000-row holdouts the HIGH-LOW
# gap among the 500 later opportunities was about half the validation projects'; MEDIUM came out above LOW),
# so a smaller gap, however sure, would not survive.
LEVEL_GAP = 0.8
SCORE_FOLDS = 5
# Level schemes tried, richest first, as score percentiles (LOW below the first, HIGH from the second).
SCHEMES: tuple[tuple[float, float], ...] = ((30.0, 70.0), (50.0, 50.0))
LEVELS = ("HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class PatternParams:
    targets: dict[str, TargetParams]
    confidence_cuts: tuple[float, float]  # LOW below the first, HIGH from the second (±inf: level not given)
    validation: dict[str, float] = field(default_factory=dict)  # figures for the methodology section
    score_model: confidence.ScoreModel | None = None

    def log_spread(self, x: sparse.spmatrix) -> float:
        """The ARR error (log scale) the opportunity's stated fields suggest: a confidence component."""
        calibration = self.targets["arr"].calibration
        field_spread = calibration.field_spread if calibration is not None else None
        return float(field_spread.expected(x)[0]) if field_spread is not None else 0.0

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
    analog_count: int,
    level: float,
) -> EngineParams:
    """Settings for an engine on ``history``; ``equations`` were built with ``validation_cut`` rows as older."""
    cut = validation_cut(history.n)
    if cut >= history.n:
        return default_params()
    train, val = history.rows(0, cut), history.rows(cut, history.n)
    x_val = row_block(design.x, cut, history.n)
    # Each pattern has its own penalty: a model with fewer columns leans harder on the words, which may want
    # another amount of shrinkage than the fully stated model does.
    penalties: dict[str, dict[str, tuple[float, bool]]] = {p.name: {} for p in PATTERNS}
    for eq in equations:
        enough = (eq.segment[:cut] >= 0).sum() >= 20 and (eq.segment[cut:] >= 0).sum() >= 10
        for p in PATTERNS:
            chosen = (
                eq.select_penalty(x_val, design.columns[p.name], cut, design.space.year_column)
                if enough else (DEFAULT_ALPHA, True)
            )
            penalties[p.name] |= dict.fromkeys(eq.names, chosen)
    provisional = {
        p.name: {t: TargetParams(a, None, trend) for t, (a, trend) in penalties[p.name].items()} for p in PATTERNS
    }
    core = build_core(train, design, equations, provisional, level, newest=False)
    wanted = max(MIN_VALIDATION_QUERIES, int(QUERY_BUDGET / max(train.n, 1)))
    rows = np.unique(np.linspace(0, val.n - 1, min(val.n, wanted)).round().astype(np.int64))
    opportunities = [history_row_as_opportunity(val, int(i)) for i in rows]
    return EngineParams({
        p.name: _calibrate_pattern(
            core, row_block(design.x, 0, cut), p, opportunities, val, rows, penalties[p.name], analog_count, level
        )
        for p in PATTERNS
    })


def _calibrate_pattern(
    core: Core,
    design_x: sparse.csr_matrix,
    pattern: Pattern,
    opportunities: list[Opportunity],
    val: History,
    rows: np.ndarray,
    penalties: dict[str, tuple[float, bool]],
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
    blocks = [np.array(sorted(core.space.levels[b].values()), dtype=np.int64) for b in sorted(pattern.blocks)]
    fields = FieldColumns.of(design_x, [b for b in blocks if len(b)])
    x_queries = sparse.vstack([p.x for _, p in queries]).tocsr()
    for name, log_scale in TARGETS.items():
        actual = target_values(val, name)[rows]
        batch = Evidence.stack(evidence[name])
        field_spread = FieldSpread.fit(fields, models[name].residuals)
        cal, center, half = _calibrate_target(core, pattern, name, batch, actual, level, field_spread, x_queries)
        ok = np.isfinite(actual)
        # Money: median absolute percentage error; months: mean absolute error.
        err = float(np.median(np.abs(np.expm1(center[ok] - actual[ok])))) if log_scale else loss(center - actual)
        skill = 1.0 - loss(center - actual) / loss(models[name].baseline - actual)
        fitted[name] = (cal, center, half, actual)
        alpha, trend = penalties[name]
        validation |= {f"{name}_error": err, f"{name}_alpha": alpha, f"{name}_trend": float(trend),
                       f"{name}_shrinkage": cal.shrinkage, f"{name}_customer_prior": cal.customer_prior,
                       f"{name}_scale_prior": cal.scale_prior, f"{name}_scales_by_fields": float(cal.scales_by_fields),
                       f"{name}_skill": skill}
    arr_cal, arr_center, arr_half, arr_actual = fitted["arr"]
    typical = arr_cal.typical_half_width
    earlier = Evidence.stack(evidence["arr"]).customer_count
    arr_spread = arr_cal.field_spread
    spread = arr_spread.expected(x_queries) if arr_spread is not None else np.zeros(len(queries))
    parts = [
        confidence.components(float(w), typical, a, float(c), float(s))
        for w, (a, _), c, s in zip(arr_half, queries, earlier, spread, strict=True)
    ]
    unknown = [len(p.resolution.unknown) for _, p in queries]
    abs_error = np.abs(arr_actual - arr_center)
    score_model = confidence.ScoreModel.fit(parts, abs_error)
    scores = np.array([confidence.score(c, u, score_model) for c, u in zip(parts, unknown, strict=True)])
    held_out = _cross_fitted_scores(parts, unknown, abs_error)
    n_eff = np.array([a.effective_count for a, _ in queries])
    ape = np.abs(np.expm1(arr_center - arr_actual))
    skill = validation["arr_skill"]
    cuts, levels = _separable_levels(scores, held_out, n_eff, ape, skill)
    targets: dict[str, TargetParams] = {}
    for name, (cal, center, half, actual) in fitted.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            normalized = (actual - center) / half
        per_level = {
            lv: conformal_quantiles(normalized[levels == lv], level)
            for lv in LEVELS
            if np.isfinite(normalized[levels == lv]).sum() >= MIN_GROUP_SIZE
        }
        alpha, trend = penalties[name]
        targets[name] = TargetParams(alpha, replace(cal, level_quantiles=per_level), trend)
    for lv in LEVELS:
        validation[f"{lv.lower()}_share"] = float(np.mean(levels == lv)) if len(levels) else 0.0
    return PatternParams(targets, cuts, validation, score_model)


def _cross_fitted_scores(parts: list[dict[str, float]], unknown: list[int], abs_error: np.ndarray) -> np.ndarray:
    """Each validation project's score from a score model fitted without it (folds of consecutive projects).

    Judging the levels on the projects their score model was fitted to would flatter them; these scores are
    what the levels look like on projects the score model has not seen, as in use. The folds are blocks in
    time order, not interleaved: neighbours in time share analogs and market conditions, and a score model
    that saw a project's neighbours would look better on it than it will on later projects.
    """
    n = len(parts)
    fold = np.arange(n) * SCORE_FOLDS // max(n, 1)
    scores = np.full(n, math.nan)
    for f in range(SCORE_FOLDS):
        rest = np.flatnonzero(fold != f)
        model = confidence.ScoreModel.fit([parts[i] for i in rest], abs_error[rest])
        for i in np.flatnonzero(fold == f):
            scores[i] = confidence.score(parts[i], unknown[i], model)
    return scores


def _levels(scores: np.ndarray, cuts: tuple[float, float], n_eff: np.ndarray, skill: float) -> np.ndarray:
    return np.array([confidence.level(s, cuts, e, skill) for s, e in zip(scores, n_eff, strict=True)], dtype=object)


def _told_apart(better: np.ndarray, worse: np.ndarray, ape: np.ndarray) -> bool:
    """The ``better`` projects' errors are smaller than the ``worse`` ones' (masks over the validation projects,
    which are in time order): a one-sided Mann-Whitney test at SEPARATION_P on all of them, a median at most
    LEVEL_GAP of theirs, and a lower median in the older and in the newer half alike (an ordering that does
    not hold over time will not hold in use).
    """
    known = np.isfinite(ape)
    better, worse = better & known, worse & known
    if min(better.sum(), worse.sum()) < MIN_GROUP_SIZE:
        return False
    if not np.median(ape[better]) <= LEVEL_GAP * np.median(ape[worse]):
        return False
    newer = np.arange(len(ape)) >= len(ape) // 2
    for half in (~newer, newer):
        if not (better & half).any() or not (worse & half).any():
            return False
        if not np.median(ape[better & half]) < np.median(ape[worse & half]):
            return False
    return bool(mannwhitneyu(ape[better], ape[worse], alternative="less").pvalue < SEPARATION_P)


def _ranks_errors(scores: np.ndarray, ape: np.ndarray) -> bool:
    """Higher scores go with smaller errors across all validation projects (one-sided Spearman test)."""
    known = np.isfinite(ape) & np.isfinite(scores)
    if known.sum() < 3 * MIN_GROUP_SIZE:
        return False
    return bool(spearmanr(scores[known], ape[known], alternative="less").pvalue < SEPARATION_P)


def _separable_levels(
    scores: np.ndarray, held_out: np.ndarray, n_eff: np.ndarray, ape: np.ndarray, skill: float
) -> tuple[tuple[float, float], np.ndarray]:
    """The richest level scheme whose every level the validation projects tell apart from the next.

    Schemes, richest first: HIGH / MEDIUM / LOW at the score's 70th and 30th percentiles, then HIGH / LOW at
    its median, then one level (also when the score does not rank errors, see ``_ranks_errors``). A scheme
    qualifies when, on the cross-fitted scores, each given level's
    ARR errors are smaller than the next lower level's (see ``_told_apart``; at least MIN_GROUP_SIZE
    projects in each). Returns the cut points (percentiles of the
    final model's scores, as used in analyses) and each validation project's level on the cross-fitted
    scores (from which each level's interval quantiles are taken, as a level will be met in use).
    """
    none = (-math.inf, math.inf)
    if len(scores) < 3 * MIN_GROUP_SIZE or not _ranks_errors(held_out, ape):
        return none, _levels(held_out, none, n_eff, skill)
    for low_pct, high_pct in SCHEMES:
        trial = (float(np.percentile(held_out, low_pct)), float(np.percentile(held_out, high_pct)))
        levels = _levels(held_out, trial, n_eff, skill)
        given = [lv for lv in LEVELS if (levels == lv).any()]
        if len(given) > 1 and all(
            _told_apart(levels == a, levels == b, ape) for a, b in itertools.pairwise(given)
        ):
            cuts = (float(np.percentile(scores, low_pct)), float(np.percentile(scores, high_pct)))
            return cuts, levels
    return none, _levels(held_out, none, n_eff, skill)


def _calibrate_target(
    core: Core,
    pattern: Pattern,
    name: str,
    evidence: Evidence,
    actual: np.ndarray,
    level: float,
    field_spread: FieldSpread | None,
    x_queries: sparse.csr_matrix,
) -> tuple[Calibration, np.ndarray, np.ndarray]:
    """Choose the two shrinkages on the validation projects, then the local scale (see ``_local_scale``) and,
    with it, conformal quantiles per customer group.

    Returns the calibration, the corrected centers and the group intervals' half-widths.
    """
    sigma = robust_sigma(core.pattern_models[pattern.name][name].residuals)
    grid = [(k, c) for k in SHRINKAGE_GRID for c in CUSTOMER_PRIOR_GRID]
    shrinkage, prior = min(grid, key=lambda kc: loss(correct(evidence, kc[0], kc[1], sigma)[0] - actual))
    field_scales = field_spread.scale(x_queries) if field_spread is not None else None
    calibration, center, half = _local_scale(evidence, actual, level, shrinkage, prior, sigma, field_scales)
    typical = float(np.median(half)) if len(half) else sigma
    return replace(calibration, typical_half_width=typical, field_spread=field_spread), center, half


def _local_scale(
    evidence: Evidence,
    actual: np.ndarray,
    level: float,
    shrinkage: float,
    prior: float,
    sigma: float,
    field_scales: np.ndarray | None = None,
) -> tuple[Calibration, np.ndarray, np.ndarray]:
    """The interval's scale, chosen by the cross-fitted interval score (ties to the simpler choice): whether the
    history's spread is scaled by the stated fields (``field_scales``, each validation project's; see
    FieldSpread), and how much the analogs' own spread is leaned on. When many queries share the same few
    analogs (text that tells projects apart only by type, say), their spread is one draw common to all of
    them, and the fixed four pseudo-analogs used before let a lucky draw on the validation projects become an
    unlucky one later."""
    scalings = [(False, evidence)]
    if field_scales is not None:
        scalings.append((True, replace(evidence, field_scale=field_scales)))
    candidates = [
        _scaled(scaled, actual, level, shrinkage, prior, sigma, s, by_fields)
        for by_fields, scaled in scalings
        for s in reversed(SCALE_PRIOR_GRID)
    ]
    calibration, center, half, _ = min(candidates, key=lambda c: c[3])
    return calibration, center, half


def _scaled(
    evidence: Evidence, actual: np.ndarray, level: float, shrinkage: float, prior: float, sigma: float,
    scale_prior: float, by_fields: bool,
) -> tuple[Calibration, np.ndarray, np.ndarray, float]:
    """Conformal quantiles per customer group with the local scale ``scale_prior`` gives, the corrected centers,
    the group intervals' half-widths, and the mean interval score of intervals whose quantiles were learned on
    the other half of the validation projects (cross-fitted: the in-sample width favours whatever fits the
    validation projects' own noise, the interval score also counts each miss by how far it falls outside).
    ``by_fields`` says that the evidence's field scales are in use: recorded, so that analyses use them too."""
    center, scales = correct(evidence, shrinkage, prior, sigma, scale_prior)
    normalized = (actual - center) / scales
    groups = evidence.groups
    calibration = Calibration(
        shrinkage, prior, sigma, _group_quantiles(normalized, groups, level), typical_half_width=sigma,
        scale_prior=scale_prior, scales_by_fields=by_fields,
    )
    low, high = group_interval(calibration, groups, center, scales)
    halves = np.arange(len(actual)) % 2
    penalty, total = 2 / (1 - level), 0.0
    for h in (0, 1):
        fitted = replace(calibration, quantiles=_group_quantiles(normalized[halves != h], groups[halves != h], level))
        lo, hi = group_interval(fitted, groups[halves == h], center[halves == h], scales[halves == h])
        y = actual[halves == h]
        ok = np.isfinite(y)
        total += float(((hi - lo) + penalty * (np.maximum(lo - y, 0) + np.maximum(y - hi, 0)))[ok].sum())
    known = int(np.isfinite(actual).sum())
    return calibration, center, (high - low) / 2, total / max(known, 1)


def _group_quantiles(normalized: np.ndarray, groups: np.ndarray, level: float) -> dict[str, tuple[float, float]]:
    quantiles = {"all": conformal_quantiles(normalized, level)}
    for g in GROUPS:
        if (groups == g).sum() >= MIN_GROUP_SIZE:
            quantiles[g] = conformal_quantiles(normalized[groups == g], level)
    return quantiles
