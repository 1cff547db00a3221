"""Which services the opportunity will likely run, and what each costs per month and up front.

Costs are not averaged in dollars (a large analog would dominate): each analog contributes its *shares* of
MRR and upfront per service, weighted by similarity, and the shares are applied to the predicted MRR and
upfront. The listed services plus "Other services" therefore add up exactly to the prediction.
"""

from __future__ import annotations

import numpy as np

from oppscope.analysis.contracts import ServiceCost
from oppscope.analysis.dataset import History
from oppscope.analysis.similarity import Analogs
from oppscope.history.schema import OTHER_SERVICES


def _weighted_shares(matrix_rows: np.ndarray, totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(totals[:, None] > 0, matrix_rows / totals[:, None], 0.0)
    has = totals > 0
    if not has.any():
        return np.zeros(matrix_rows.shape[1])
    w = weights[has] / weights[has].sum()
    return np.asarray(w @ shares[has]).ravel()


def top_services(
    history: History, analogs: Analogs, mrr: float, upfront: float, count: int
) -> list[ServiceCost]:
    if not len(analogs.index):
        return []
    monthly = history.service_monthly[analogs.index].toarray()
    up = history.service_upfront[analogs.index].toarray()
    monthly_share = _weighted_shares(monthly, monthly.sum(axis=1), analogs.weight)
    upfront_share = _weighted_shares(up, up.sum(axis=1), analogs.weight)
    usage = analogs.weight @ ((monthly + up) > 0)
    other = [j for j, name in enumerate(history.service_names) if name == OTHER_SERVICES]
    # The services the analogs use most (as the design asks), costlier first among equally common ones.
    cost_share = monthly_share + upfront_share * upfront / max(12 * mrr, 1e-9)
    ranked = [j for j in np.lexsort((-cost_share, -np.round(usage, 6)))
              if j not in other and cost_share[j] > 0]
    chosen = ranked[:count]
    result = [
        ServiceCost(
            name=history.service_names[j],
            monthly_usd=round(mrr * float(monthly_share[j]), 2),
            upfront_usd=round(upfront * float(upfront_share[j]), 2),
            usage_share=round(float(usage[j]), 3),
        )
        for j in chosen
    ]
    rest_m = round(mrr - sum(s.monthly_usd for s in result), 2)
    rest_u = round(upfront - sum(s.upfront_usd for s in result), 2)
    if rest_m > 0.005 or rest_u > 0.005:
        rest = [j for j in range(len(history.service_names)) if j not in chosen]
        result.append(
            ServiceCost(
                name=OTHER_SERVICES,
                monthly_usd=max(rest_m, 0.0),
                upfront_usd=max(rest_u, 0.0),
                usage_share=round(float(usage[rest].max()) if rest else 0.0, 3),
            )
        )
    return result
