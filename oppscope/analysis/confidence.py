"""Confidence from measured things: how wide the calibrated interval is, how close the analogs are, how many.

The score blends two 0–1 components (interval width against the history's typical width, closeness of the
best analogs) less a penalty per stated value the history has never seen; the HIGH/MEDIUM/LOW cut points are
not fixed but
learned in calibration per input pattern (the score's 30th and 70th percentiles on the latest projects
restated in that pattern), so a level means the same thing relative to the history at hand. A level the
latest projects cannot tell apart from the next (its median error not clearly lower) is not given, and each
level's interval has its own calibrated quantiles; the backtest reports each level's error and coverage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from oppscope.analysis.contracts import Confidence, ConfidenceLevel
from oppscope.analysis.similarity import Analogs

# Weights measured on backtests: interval width tracks the actual error best, the closeness of the best
# analogs adds to it. The effective number of analogs did not predict error beyond these (many equally
# similar analogs often means no close one), so it only sets a floor (too few: LOW) and is reported.
WEIGHTS = {"precision": 0.6, "closeness": 0.4}
UNKNOWN_FIELD_PENALTY = 8.0
MIN_EFFECTIVE_ANALOGS = 2.0
DEFAULT_CUTS = (40.0, 65.0)
MIN_SKILL_FOR_HIGH = 0.15
FIELD_SCALE_NOTED = 1.1  # the reasons say how the stated fields scaled the interval from 10% either way


def components(
    half_width: float,
    typical_half_width: float,
    analogs: Analogs,
    earlier_projects: float = 0.0,
    log_spread: float = 0.0,
) -> dict[str, float]:
    n_eff = analogs.effective_count
    top = analogs.similarity[:5]
    ratio = half_width / typical_half_width if typical_half_width > 0 else math.inf
    return {
        # 1 when the ARR interval is half as wide as is typical for this history, 0 at 1.5× as wide.
        "precision": float(np.clip(1.5 - ratio, 0.0, 1.0)),
        "width_ratio": float(ratio),
        "closeness": float(top.mean()) if len(top) else 0.0,
        "support": n_eff / (n_eff + 5.0),
        "effective_analogs": n_eff,
        # The customer's own earlier projects measure its lasting effect: a returning customer's error is
        # usually smaller, by an amount the score model measures per history and pattern.
        "earlier_projects": float(earlier_projects),
        "log_spread": float(log_spread),  # the expected log-scale error of the stated fields (regression.FieldSpread)
    }


def _features(parts: dict[str, float]) -> np.ndarray:
    ratio = parts["width_ratio"] if math.isfinite(parts["width_ratio"]) else 10.0
    earlier = parts.get("earlier_projects", 0.0)
    return np.array([
        1.0, math.log(max(ratio, 1e-3)), parts["closeness"], math.log1p(parts["effective_analogs"]),
        float(earlier >= 1), float(earlier >= 2), parts.get("log_spread", 0.0),
    ])


@dataclass(frozen=True)
class ScoreModel:
    """How the measured components predict the size of the error, learned on one pattern's validation projects.

    A least-squares fit of the absolute error on the log interval-width ratio, the closeness of the best
    analogs, the log effective number of analogs, whether the customer has one or several earlier projects
    and the error size its stated fields suggest (``regression.FieldSpread``); the score maps the predicted error
    onto 0–100 (100 at the validation's 5th percentile of predicted error, 0 at its 95th). What predicts
    error differs between histories and patterns (interval width when the fields are few, closeness when
    they are many), so the weights are measured, not fixed.
    """

    coef: tuple[float, ...]
    best: float
    worst: float

    @classmethod
    def fit(cls, parts: Sequence[dict[str, float]], abs_errors: np.ndarray) -> ScoreModel | None:
        ok = np.isfinite(abs_errors)
        if ok.sum() < 50:
            return None
        f = np.array([_features(p) for p in parts])[ok]
        coef = np.linalg.lstsq(f, abs_errors[ok], rcond=None)[0]
        predicted = f @ coef
        best, worst = np.percentile(predicted, [5, 95])
        return cls(tuple(float(c) for c in coef), float(best), float(worst)) if worst > best else None

    def score(self, parts: dict[str, float]) -> float:
        predicted = float(_features(parts) @ np.array(self.coef))
        return 100.0 * (self.worst - predicted) / (self.worst - self.best)


def score(parts: dict[str, float], unknown_fields: int, model: ScoreModel | None = None) -> float:
    raw = model.score(parts) if model else 100.0 * sum(w * parts[k] for k, w in WEIGHTS.items())
    return float(np.clip(raw - UNKNOWN_FIELD_PENALTY * unknown_fields, 0.0, 100.0))


def level(value: float, cuts: tuple[float, float], effective_analogs: float, skill: float) -> ConfidenceLevel:
    if effective_analogs < MIN_EFFECTIVE_ANALOGS or value < cuts[0]:
        return "LOW"
    # Cut points are relative; HIGH also needs the history to predict ARR better than a constant guess does.
    return "HIGH" if value >= cuts[1] and skill >= MIN_SKILL_FOR_HIGH else "MEDIUM"


def _cut_text(cuts: tuple[float, float]) -> str:
    low = f"LOW below {cuts[0]:.0f}" if math.isfinite(cuts[0]) else "LOW not given by score"
    high = f"HIGH from {cuts[1]:.0f}" if math.isfinite(cuts[1]) else (
        "HIGH not given (the recent projects could not tell it apart from MEDIUM)"
    )
    return f"{low}, {high}"


def assess(
    half_width: float,
    typical_half_width: float,
    analogs: Analogs,
    unknown: list[str],
    cuts: tuple[float, float],
    skill: float,
    pattern: str = "full",
    model: ScoreModel | None = None,
    earlier_projects: float = 0.0,
    log_spread: float = 0.0,
    field_scale: float = 1.0,
) -> Confidence:
    parts = components(half_width, typical_half_width, analogs, earlier_projects, log_spread)
    parts["field_scale"] = float(field_scale)  # how the stated fields scaled the interval (regression.FieldSpread)
    value = score(parts, len(unknown), model)
    lvl = level(value, cuts, parts["effective_analogs"], skill)
    reasons = [
        f"{parts['effective_analogs']:.1f} effective analogs (weighted), "
        f"top-5 mean similarity {parts['closeness']:.2f}",
        f"the ARR interval is {half_width / typical_half_width:.2f}× as wide as is typical for this history"
        if typical_half_width > 0
        else "no typical interval width available",
        f"score {value:.0f}: {_cut_text(cuts)} (cut points calibrated on the most recent projects, restated "
        f"with the fields this input states: pattern '{pattern}')",
    ]
    if abs(math.log(field_scale)) >= math.log(FIELD_SCALE_NOTED):
        reasons.append(
            f"projects with the values this opportunity states err {field_scale:.2f}× as much as the history's "
            "typical project: the interval is scaled by that"
        )
    reasons += [f"{u} is not in the history: its average effect was used" for u in unknown]
    if skill < MIN_SKILL_FOR_HIGH:
        reasons.append(
            f"on the most recent projects the engine removed only {max(skill, 0):.0%} of a constant guess's ARR "
            "error (or could not be validated): never HIGH"
        )
    if parts["effective_analogs"] < MIN_EFFECTIVE_ANALOGS:
        reasons.append("fewer than two effective analogs: LOW whatever the score")
    return Confidence(level=lvl, score=round(value), reasons=reasons, components=parts)
