"""Learning the engine's settings from the history itself, on a split by time.

The most recent part of the history plays the role of "new opportunities": the regression's penalty, the
analog shrinkage, the interval quantiles and the confidence cut points are chosen to do well there, with
models that only saw the older part. Nothing is tuned on the projects it is later judged on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oppscope.analysis import confidence
from oppscope.analysis.core import TARGETS, Core, TargetParams, build_core, target_values
from oppscope.analysis.dataset import History
from oppscope.analysis.features import FeatureSpace, history_profiles
from oppscope.analysis.model import (
    SHRINKAGE_GRID,
    Calibration,
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
DEFAULT_ALPHA = 3.0


@dataclass(frozen=True)
class EngineParams:
    targets: dict[str, TargetParams]
    confidence_cuts: tuple[float, float]
    validation: dict[str, float] = field(default_factory=dict)  # figures for the methodology section


@dataclass
class _Collected:
    base: list[float] = field(default_factory=list)
    actual: list[float] = field(default_factory=list)
    residuals: list[np.ndarray] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)
    extra: list[float] = field(default_factory=list)


def default_params() -> EngineParams:
    return EngineParams({t: TargetParams(DEFAULT_ALPHA, None) for t in TARGETS}, confidence.DEFAULT_CUTS)


def _transformed(history: History, name: str) -> np.ndarray:
    raw = target_values(history, name)
    if not TARGETS[name]:
        return raw.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(raw > 0, np.log(raw), np.nan)


def _alphas(train: History, val: History) -> dict[str, float]:
    profiles_train, profiles_val = history_profiles(train), history_profiles(val)
    space = FeatureSpace.fit(profiles_train)
    x_train, x_val = space.matrix(profiles_train), space.matrix(profiles_val)
    out: dict[str, float] = {}
    for name, log_scale in TARGETS.items():
        y_t, y_v = _transformed(train, name), _transformed(val, name)
        ok_t, ok_v = np.isfinite(y_t), np.isfinite(y_v)
        if ok_t.sum() < 20 or ok_v.sum() < 10:
            out[name] = DEFAULT_ALPHA
            continue
        out[name] = select_alpha(x_train[ok_t], y_t[ok_t], x_val[ok_v], y_v[ok_v], log_scale)
    return out


def calibrate(history: History, analog_count: int, level: float) -> EngineParams:
    if history.n < MIN_ROWS_TO_CALIBRATE:
        return default_params()
    cut = int(history.n * (1 - VALIDATION_FRACTION))
    position = np.arange(history.n)
    train, val = history.subset(position < cut), history.subset(position >= cut)
    alphas = _alphas(train, val)
    core = build_core(train, {t: TargetParams(a, None) for t, a in alphas.items()})

    step = max(1, val.n // MAX_VALIDATION_QUERIES)
    rows = np.arange(0, val.n, step)
    collected = {t: _Collected() for t in TARGETS}
    analog_sets = []
    for i in rows:
        prepared = core.prepare(history_row_as_opportunity(val, int(i)))
        analogs = core.analogs(prepared, analog_count)
        analog_sets.append((analogs, prepared))
        for name, model in core.models.items():
            c = collected[name]
            c.base.append(float(model.ridge.predict(prepared.x)[0]))
            c.actual.append(float(_transformed(val, name)[i]))
            c.residuals.append(model.residuals[analogs.index])
            c.weights.append(analogs.weight)
            c.extra.append(prepared.missing_variance.get(name, 0.0))

    targets: dict[str, TargetParams] = {}
    validation: dict[str, float] = {"validation_queries": float(len(rows)), "train_rows": float(train.n)}
    arr_scales: np.ndarray = np.zeros(0)
    for name, log_scale in TARGETS.items():
        cal, scales, err = _calibrate_target(core, name, collected[name], log_scale, level)
        targets[name] = TargetParams(alphas[name], cal)
        validation[f"{name}_error"] = err
        validation[f"{name}_alpha"] = alphas[name]
        validation[f"{name}_shrinkage"] = cal.shrinkage
        if name == "arr":
            arr_scales = scales
    sigma = targets["arr"].calibration.sigma if targets["arr"].calibration else 1.0
    scores = np.array([
        confidence.score(confidence.components(float(s), sigma, a), len(p.resolution.unknown))
        for s, (a, p) in zip(arr_scales, analog_sets, strict=True)
    ])
    cuts = (float(np.percentile(scores, 30)), float(np.percentile(scores, 70))) if len(scores) else (
        confidence.DEFAULT_CUTS
    )
    return EngineParams(targets, cuts, validation)


def _calibrate_target(
    core: Core, name: str, c: _Collected, log_scale: bool, level: float
) -> tuple[Calibration, np.ndarray, float]:
    actual = np.array(c.actual)
    sigma = robust_sigma(core.models[name].residuals)

    def predictions(shrinkage: float) -> tuple[np.ndarray, np.ndarray]:
        pairs = [
            correct(b, r, w, shrinkage, sigma, e)
            for b, r, w, e in zip(c.base, c.residuals, c.weights, c.extra, strict=True)
        ]
        return np.array([p for p, _ in pairs]), np.array([s for _, s in pairs])

    best = min(SHRINKAGE_GRID, key=lambda k: loss(predictions(k)[0] - actual, log_scale))
    center, scales = predictions(best)
    q_low, q_high = conformal_quantiles((actual - center) / scales, level)
    ok = np.isfinite(actual)
    # Money: median absolute percentage error; months: mean absolute error.
    error = (
        float(np.median(np.abs(np.expm1(center[ok] - actual[ok]))))
        if log_scale
        else loss(center - actual, log_scale)
    )
    return Calibration(shrinkage=best, sigma=sigma, q_low=q_low, q_high=q_high), scales, error
