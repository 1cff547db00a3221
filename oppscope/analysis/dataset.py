"""The history as the engine sees it: one in-memory, column-oriented view with the derived outcomes.

Everything the engine learns from (ARR, MRR, time to launch, services) is derived here once, with the
original system's rules, so that every later number can be traced back to these arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
from scipy import sparse

from oppscope.history.schema import DAYS_PER_MONTH, OTHER_SERVICES, SERVICE_SLOTS, monthly_column, upfront_column

SECONDS_PER_YEAR = 365.25 * 86400
# Time is measured in years from this origin in every feature, so models stay comparable across histories.
EPOCH_ORIGIN = datetime(2020, 1, 1, tzinfo=UTC).timestamp()

CATEGORICAL_COLUMNS: dict[str, str] = {
    "customer": "customer_name",
    "segment": "customer_segment",
    "industry": "industry",
    "country": "country",
    "region": "opportunity_region",
    "subregion": "oppertunity-sub-region",
    "partner": "partner_name",
    "activity": "activity_name",
    "project_type": "project_type",
    "phase": "migration_phase",
    "program": "program",
}


_PUNCTUATION = re.compile(r"[^\w]+")


def normalize(value: object) -> str:
    """Key for comparing categorical values: case, spacing and punctuation do not matter.

    "Mid-Market" = "mid market", "AI/ML" = "AI ML", "Acme Corp." = "ACME corp": what a seller types should
    meet what the history wrote.
    """
    if value is None:
        return ""
    return " ".join(_PUNCTUATION.sub(" ", str(value).lower()).split())


def _text(values: np.ndarray) -> np.ndarray:
    return np.array(["" if v is None else str(v).strip() for v in values], dtype=object)


def _money(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.zeros(n)
    arr = np.asarray(values, dtype=float)
    return np.where(np.isfinite(arr) & (arr > 0), arr, 0.0)


def _date_to_ts(values: np.ndarray) -> np.ndarray:
    """ISO date strings to Unix seconds (NaN where absent or malformed)."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v:
            try:
                d = date.fromisoformat(str(v)[:10])
            except ValueError:
                continue
            out[i] = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
    return out


@dataclass(frozen=True)
class History:
    """Column view of the history table plus derived outcomes, in close-date order."""

    n: int
    opportunity_id: np.ndarray
    opportunity_name: np.ndarray
    description: np.ndarray
    business_description: np.ndarray
    categorical: dict[str, np.ndarray]  # display values ('' when absent), keys of CATEGORICAL_COLUMNS
    close_ts: np.ndarray  # Unix seconds, int64
    start_date: np.ndarray
    end_date: np.ndarray
    mrr: np.ndarray
    upfront: np.ndarray
    arr: np.ndarray  # 12 × MRR + upfront (the original system's rule)
    stated_arr: np.ndarray  # annual_run_rate_usd, NaN when absent
    ttl_months: np.ndarray  # close date → planned start, NaN when unknown
    duration_months: np.ndarray  # planned start → planned end, NaN when unknown
    service_names: tuple[str, ...]
    service_monthly: sparse.csr_matrix  # n × services
    service_upfront: sparse.csr_matrix
    service_lists: tuple[tuple[str, ...], ...]  # per row, its services by total cost, largest first

    @cached_property
    def keys(self) -> dict[str, list[str]]:
        """The categorical columns normalized for comparison, computed once for every consumer.

        Each distinct value is normalized once (a million rows hold a few thousand distinct industries, countries
        or customers), and equal keys are one string object.
        """
        out: dict[str, list[str]] = {}
        for block, values in self.categorical.items():
            distinct = {v: normalize(v) for v in set(values)}
            out[block] = list(map(distinct.__getitem__, values))
        return out

    @property
    def close_years(self) -> np.ndarray:
        return (self.close_ts.astype(float) - EPOCH_ORIGIN) / SECONDS_PER_YEAR

    def services_of(self, i: int) -> list[str]:
        return list(self.service_lists[i])

    def subset(self, mask: np.ndarray) -> History:
        idx = np.flatnonzero(mask)
        return History(
            n=len(idx),
            opportunity_id=self.opportunity_id[idx],
            opportunity_name=self.opportunity_name[idx],
            description=self.description[idx],
            business_description=self.business_description[idx],
            categorical={k: v[idx] for k, v in self.categorical.items()},
            close_ts=self.close_ts[idx],
            start_date=self.start_date[idx],
            end_date=self.end_date[idx],
            mrr=self.mrr[idx],
            upfront=self.upfront[idx],
            arr=self.arr[idx],
            stated_arr=self.stated_arr[idx],
            ttl_months=self.ttl_months[idx],
            duration_months=self.duration_months[idx],
            service_names=self.service_names,
            service_monthly=self.service_monthly[idx],
            service_upfront=self.service_upfront[idx],
            service_lists=tuple(self.service_lists[i] for i in idx),
        )


def history_from_columns(columns: dict[str, np.ndarray]) -> History:
    """Derive the engine's view from raw table columns (as ``HistoryStore.fetch_columns`` returns them)."""
    close = np.asarray(columns["close_date"], dtype=np.int64)
    order = np.argsort(close, kind="stable")
    cols = {k: np.asarray(v)[order] for k, v in columns.items()}
    n = len(order)

    service_names, monthly, upfront = _service_matrices(cols, n)
    mrr = np.asarray(monthly.sum(axis=1)).ravel()
    up = np.asarray(upfront.sum(axis=1)).ravel()
    stated = np.asarray(cols.get("annual_run_rate_usd", np.full(n, np.nan)), dtype=float)
    stated = np.where(np.isfinite(stated) & (stated > 0), stated, np.nan)
    arr = 12 * mrr + up
    # Rows without service costs still carry their stated ARR; use it so they are not lost as evidence.
    no_costs = (arr <= 0) & np.isfinite(stated)
    arr = np.where(no_costs, stated, arr)
    mrr = np.where(no_costs, stated / 12, mrr)

    start_date = _text(cols.get("planned_delivery_start_date", np.full(n, None)))
    end_date = _text(cols.get("planned_delivery_end_date", np.full(n, None)))
    start_ts, end_ts = _date_to_ts(start_date), _date_to_ts(end_date)
    ttl = (start_ts - close) / 86400 / DAYS_PER_MONTH
    ttl = np.where(ttl >= -1.0, np.maximum(ttl, 0.0), np.nan)  # a start long before close is a data error
    duration = (end_ts - start_ts) / 86400 / DAYS_PER_MONTH
    duration = np.where(duration > 0, duration, np.nan)

    def col(name: str) -> np.ndarray:
        return _text(cols.get(name, np.full(n, None)))

    return History(
        n=n,
        opportunity_id=col("opportunity_18_character_oppty_id"),
        opportunity_name=col("opportunity_name"),
        description=col("description"),
        business_description=col("business_description"),
        categorical={k: col(c) for k, c in CATEGORICAL_COLUMNS.items()},
        close_ts=close,
        start_date=start_date,
        end_date=end_date,
        mrr=mrr,
        upfront=up,
        arr=arr,
        stated_arr=stated,
        ttl_months=ttl,
        duration_months=duration,
        service_names=service_names,
        service_monthly=monthly,
        service_upfront=upfront,
        service_lists=_service_lists(service_names, monthly + upfront),
    )


def _service_lists(names: tuple[str, ...], costs: sparse.csr_matrix) -> tuple[tuple[str, ...], ...]:
    """Each row's services by total cost, computed once so analyses never slice the sparse matrix."""
    costs = costs.tocsr()
    costs.sort_indices()
    out = []
    for start, end in pairwise(costs.indptr):
        cols, vals = costs.indices[start:end], costs.data[start:end]
        out.append(tuple(names[j] for j in cols[np.argsort(-vals, kind="stable")]))
    return tuple(out)


def _service_matrices(
    cols: dict[str, np.ndarray], n: int
) -> tuple[tuple[str, ...], sparse.csr_matrix, sparse.csr_matrix]:
    """Pivot the ten service slots into (rows × distinct services) cost matrices."""
    index: dict[str, int] = {}
    display: list[str] = []
    rows: list[np.ndarray] = []
    col_ids: list[np.ndarray] = []
    monthly_vals: list[np.ndarray] = []
    upfront_vals: list[np.ndarray] = []
    for slot in SERVICE_SLOTS:
        names = cols.get(slot)
        if names is None:
            continue
        m = _money(cols.get(monthly_column(slot)), n)
        u = _money(cols.get(upfront_column(slot)), n)
        ids = np.full(n, -1)
        for i, raw in enumerate(names):
            key = normalize(raw)
            if not key and (m[i] > 0 or u[i] > 0):
                key = normalize(OTHER_SERVICES)
                raw = OTHER_SERVICES
            if not key:
                continue
            j = index.get(key)
            if j is None:
                j = index[key] = len(display)
                display.append(str(raw).strip())
            ids[i] = j
        keep = ids >= 0
        rows.append(np.flatnonzero(keep))
        col_ids.append(ids[keep])
        monthly_vals.append(m[keep])
        upfront_vals.append(u[keep])
    shape = (n, max(len(display), 1))
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=int)
    c = np.concatenate(col_ids) if col_ids else np.zeros(0, dtype=int)
    # Duplicate (row, service) pairs are summed by the COO → CSR conversion, which is what we want.
    monthly = sparse.coo_matrix((np.concatenate(monthly_vals) if monthly_vals else [], (r, c)), shape=shape).tocsr()
    upfront = sparse.coo_matrix((np.concatenate(upfront_vals) if upfront_vals else [], (r, c)), shape=shape).tocsr()
    return tuple(display), monthly, upfront
