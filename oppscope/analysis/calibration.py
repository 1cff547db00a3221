"""Learning the engine's settings from the history itself, on a split by time.

The most recent part of the history plays the role of "new opportunities": the regression's penalty, the
analog shrinkage, the interval quantiles and the confidence cut points are chosen to do well there, with
models that only saw the older part. Nothing is tuned on the projects it is later judged on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from oppscope.analysis import confidence
from oppscope.analysis.core import TARGETS, Core, Design, TargetParams, build_core, target_values
from oppscope.analysis.dataset import History
from oppscope.analysis.features import Profile
from oppscope.analysis.model import (
    CUSTOMER_PRIOR_GRID,
    GROUPS,
    SHRINKAGE_GRID,
    Calibration,
    Evidence,
    conformal_quantiles,
    correct,
    loss,
    robust_sigma,
    select_alpha,
)
from oppscope.analysis.resolve import history_row_as_opportunity

MIN_ROWS_TO_CALIBRATE = 150
VALIDATION_FRACTION = 0.2
MAX_VALIDATION_QUERIES = 2000
MIN_GROUP_SIZE = 40
DEFAULT_ALPHA = 3.0


@dataclass(frozen=True)
class EngineParams:
    targets: dict[str, TargetParams]
    confidence_cuts: tuple[float, float]
    validation: dict[str, float] = field(default_factory=dict)  # figures for the methodology section

    @property
    def arr_skill(self) -> float:
        """Share of a constant guess's ARR error the engine removed on validation (0 when not validated)."""
        return self.validation.get("arr_skill", 0.0)


def default_params() -> EngineParams:
    """Small histories: fixed penalties, normal intervals, fixed confidence cut points."""
    return EngineParams({t: TargetParams(DEFAULT_ALPHA, None) for t in TARGETS}, confidence.DEFAULT_CUTS)



def _alphas(train: History, val: History, design: Design, profiles_val: Sequence[Profile]) -> dict[str, float]:
    x_train, x_val = design.x, design.space.matrix(profiles_val)
    out: dict[str, float] = {}
    for name in TARGETS:
        y_t, y_v = target_values(train, name), target_values(val, name)
        ok_t, ok_v = np.isfinite(y_t), np.isfinite(y_v)
        if ok_t.sum() < 20 or ok_v.sum() < 10:
            out[name] = DEFAULT_ALPHA
            continue
        out[name] = select_alpha(x_train[ok_t], y_t[ok_t], x_val[ok_v], y_v[ok_v])
    return out


def calibrate(history: History, profiles: Sequence[Profile], analog_count: int, level: float) -> EngineParams:
    """Settings for an engine on ``history``; ``profiles`` are its rows' profiles, in the same order."""
    if history.n < MIN_ROWS_TO_CALIBRATE:
        return default_params()
    cut = int(history.n * (1 - VALIDATION_FRACTION))
    position = np.arange(history.n)
    train, val = history.subset(position < cut), history.subset(position >= cut)
    # One design for the older part serves both the penalty search and the calibration model.
    design = Design.of(profiles[:cut])
    alphas = _alphas(train, val, design, profiles[cut:])
    core = build_core(train, {t: TargetParams(a, None) for t, a in alphas.items()}, level, profiles[:cut], design)

    step = max(1, val.n // MAX_VALIDATION_QUERIES)
    rows = np.arange(0, val.n, step)
    evidence: dict[str, list[Evidence]] = {t: [] for t in TARGETS}
    queries = []
    for i in rows:
        prepared = core.prepare(history_row_as_opportunity(val, int(i)))
        analogs = core.analogs(prepared, analog_count)
        queries.append((analogs, prepared))
        for name, ev in core.evidence(prepared, analogs).items():
            evidence[name].append(ev)

    targets: dict[str, TargetParams] = {}
    validation: dict[str, float] = {"validation_queries": float(len(rows)), "train_rows": float(train.n)}
    half_widths: np.ndarray = np.zeros(0)
    for name, log_scale in TARGETS.items():
        actual = target_values(val, name)[rows]
        batch = Evidence.stack(evidence[name])
        cal, widths, err = _calibrate_target(core, name, batch, actual, log_scale, level)
        skill = 1.0 - loss(correct(batch, cal.shrinkage, cal.customer_prior, cal.sigma)[0] - actual) / loss(
            core.models[name].ridge.intercept - actual
        )
        targets[name] = TargetParams(alphas[name], cal)
        validation |= {f"{name}_error": err, f"{name}_alpha": alphas[name], f"{name}_shrinkage": cal.shrinkage,
                       f"{name}_customer_prior": cal.customer_prior, f"{name}_skill": skill}
        if name == "arr":
            half_widths = widths
    arr_cal = targets["arr"].calibration
    typical = arr_cal.typical_half_width if arr_cal else 1.0
    scores = np.array([
        confidence.score(confidence.components(float(w), typical, a), len(p.resolution.unknown))
        for w, (a, p) in zip(half_widths, queries, strict=True)
    ])
    cuts = (
        (float(np.percentile(scores, 30)), float(np.percentile(scores, 70))) if len(scores) else confidence.DEFAULT_CUTS
    )
    return EngineParams(targets, cuts, validation)


def _calibrate_target(
    core: Core, name: str, evidence: Evidence, actual: np.ndarray, log_scale: bool, level: float
) -> tuple[Calibration, np.ndarray, float]:
    """Choose the two shrinkages on the validation projects, then conformal quantiles per group."""
    sigma = robust_sigma(core.models[name].residuals)
    grid = [(k, c) for k in SHRINKAGE_GRID for c in CUSTOMER_PRIOR_GRID]
    shrinkage, prior = min(grid, key=lambda kc: loss(correct(evidence, kc[0], kc[1], sigma)[0] - actual))
    center, scales = correct(evidence, shrinkage, prior, sigma)
    normalized = (actual - center) / scales
    groups = evidence.groups
    quantiles = {"all": conformal_quantiles(normalized, level)}
    for g in GROUPS:
        if (groups == g).sum() >= MIN_GROUP_SIZE:
            quantiles[g] = conformal_quantiles(normalized[groups == g], level)
    q = np.array([quantiles.get(g, quantiles["all"]) for g in groups]).reshape(len(groups), 2)
    half_widths = (q[:, 1] - q[:, 0]) / 2 * scales
    ok = np.isfinite(actual)
    # Money: median absolute percentage error; months: mean absolute error.
    error = (
        float(np.median(np.abs(np.expm1(center[ok] - actual[ok]))))
        if log_scale
        else loss(center - actual)
    )
    calibration = Calibration(
        shrinkage=shrinkage,
        customer_prior=prior,
        sigma=sigma,
        quantiles=quantiles,
        typical_half_width=float(np.median(half_widths)) if len(half_widths) else sigma,
    )
    return calibration, half_widths, error
