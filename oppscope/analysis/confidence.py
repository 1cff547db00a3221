"""Confidence from measured things: how wide the calibrated interval is, how close the analogs are, how many.

The score blends two 0–1 components (interval width against the history's typical width, closeness of the
best analogs) less a penalty per stated value the history has never seen; the HIGH/MEDIUM/LOW cut points are
not fixed but
learned in calibration (the score's 30th and 70th percentiles on the latest projects), so a level means the
same thing relative to the history at hand, and the backtest reports the error each level really had.
"""

from __future__ import annotations

import math

import numpy as np

from oppscope.analysis.models import Confidence, ConfidenceLevel
from oppscope.analysis.similarity import Analogs

# Weights measured on backtests: interval width tracks the actual error best, the closeness of the best
# analogs adds to it. The effective number of analogs did not predict error beyond these (many equally
# similar analogs often means no close one), so it only sets a floor (too few: LOW) and is reported.
WEIGHTS = {"precision": 0.6, "closeness": 0.4}
UNKNOWN_FIELD_PENALTY = 8.0
MIN_EFFECTIVE_ANALOGS = 2.0
DEFAULT_CUTS = (40.0, 65.0)
MIN_SKILL_FOR_HIGH = 0.15


def components(half_width: float, typical_half_width: float, analogs: Analogs) -> dict[str, float]:
    n_eff = analogs.effective_count
    top = analogs.similarity[:5]
    ratio = half_width / typical_half_width if typical_half_width > 0 else math.inf
    return {
        # 1 when the ARR interval is half as wide as is typical for this history, 0 at 1.5× as wide.
        "precision": float(np.clip(1.5 - ratio, 0.0, 1.0)),
        "closeness": float(top.mean()) if len(top) else 0.0,
        "support": n_eff / (n_eff + 5.0),
        "effective_analogs": n_eff,
    }


def score(parts: dict[str, float], unknown_fields: int) -> float:
    raw = 100.0 * sum(w * parts[k] for k, w in WEIGHTS.items())
    return float(np.clip(raw - UNKNOWN_FIELD_PENALTY * unknown_fields, 0.0, 100.0))


def level(value: float, cuts: tuple[float, float], effective_analogs: float, skill: float) -> ConfidenceLevel:
    if effective_analogs < MIN_EFFECTIVE_ANALOGS or value < cuts[0]:
        return "LOW"
    # Cut points are relative; HIGH also needs the history to predict ARR better than a constant guess does.
    return "HIGH" if value >= cuts[1] and skill >= MIN_SKILL_FOR_HIGH else "MEDIUM"


def assess(
    half_width: float,
    typical_half_width: float,
    analogs: Analogs,
    unknown: list[str],
    cuts: tuple[float, float],
    skill: float,
) -> Confidence:
    parts = components(half_width, typical_half_width, analogs)
    value = score(parts, len(unknown))
    lvl = level(value, cuts, parts["effective_analogs"], skill)
    reasons = [
        f"{parts['effective_analogs']:.1f} effective analogs (weighted), "
        f"top-5 mean similarity {parts['closeness']:.2f}",
        f"the ARR interval is {half_width / typical_half_width:.2f}× as wide as is typical for this history"
        if typical_half_width > 0
        else "no typical interval width available",
        f"score {value:.0f}: LOW below {cuts[0]:.0f}, HIGH from {cuts[1]:.0f} (cut points calibrated on the "
        "most recent projects)",
    ]
    reasons += [f"{u} is not in the history: its average effect was used" for u in unknown]
    if skill < MIN_SKILL_FOR_HIGH:
        reasons.append(
            f"on the most recent projects the engine removed only {max(skill, 0):.0%} of a constant guess's ARR "
            "error (or could not be validated): never HIGH"
        )
    if parts["effective_analogs"] < MIN_EFFECTIVE_ANALOGS:
        reasons.append("fewer than two effective analogs: LOW whatever the score")
    return Confidence(level=lvl, score=round(value), reasons=reasons, components=parts)
