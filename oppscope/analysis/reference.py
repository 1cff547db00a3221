"""The plain reference: what a data scientist would fit first, run beside oppscope so its lead is measured.

TF-IDF of the name and descriptions plus one-hot of the stated fields; ridge on log ARR and on log months;
80% intervals from out-of-fold residual quantiles. Deliberately plain (scikit-learn defaults): it is the bar
the engine must clear on every input pattern, not a second engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.preprocessing import OneHotEncoder

from oppscope.analysis.contracts import Opportunity

FOLDS = 5
FIELDS = ("customer_name", "region", "industry", "customer_segment", "partner_name", "activity_focus",
          "migration_phase")


@dataclass(frozen=True)
class ReferencePrediction:
    value: np.ndarray  # on the outcome's own scale
    low: np.ndarray
    high: np.ndarray


def reference_inputs(opportunities: Sequence[Opportunity]) -> tuple[list[str], list[list[str]]]:
    """What the reference reads of each opportunity: its words, and its stated fields ('' when not stated)."""
    text = [f"{o.opportunity_name} {o.description} {o.business_description or ''}" for o in opportunities]
    fields = [[str(getattr(o, f) or "") for f in FIELDS] for o in opportunities]
    return text, fields


def reference_predict(
    train: tuple[list[str], list[list[str]]],
    arr: np.ndarray,
    ttl_months: np.ndarray,
    test: tuple[list[str], list[list[str]]],
    level: float = 0.8,
    *,
    intervals: bool = True,
) -> dict[str, ReferencePrediction]:
    """Fit on ``train`` (ARR in dollars, time to launch in months; NaN where unknown), predict ``test``.

    Without ``intervals`` the out-of-fold fits are skipped (low and high are NaN): features and two fits only.
    """
    text, onehot = TfidfVectorizer(sublinear_tf=True, min_df=2), OneHotEncoder(handle_unknown="ignore")
    x = sparse.hstack([text.fit_transform(train[0]), onehot.fit_transform(np.array(train[1], dtype=object))]).tocsr()
    x_test = sparse.hstack([text.transform(test[0]), onehot.transform(np.array(test[1], dtype=object))]).tocsr()
    tail = (1 - level) / 2
    out: dict[str, ReferencePrediction] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        targets = {"arr": (np.log(np.where(arr > 0, arr, np.nan)), np.exp), "ttl": (np.log1p(ttl_months), np.expm1)}
    for name, (y, inverse) in targets.items():
        ok = np.isfinite(y)
        lo, hi = np.nan, np.nan
        if intervals:
            oof = cross_val_predict(Ridge(), x[ok], y[ok], cv=KFold(FOLDS, shuffle=True, random_state=0))
            lo, hi = np.quantile(y[ok] - oof, [tail, 1 - tail])
        center = Ridge().fit(x[ok], y[ok]).predict(x_test)
        out[name] = ReferencePrediction(inverse(center), inverse(center + lo), inverse(center + hi))
    return out
