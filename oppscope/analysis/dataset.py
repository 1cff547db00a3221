"""The history as the engine sees it: one in-memory, column-oriented view with the derived outcomes.

Everything the engine learns from (ARR, MRR, time to launch, services) is derived here once, with the
original system's rules, so that every later number can be traced back to these arrays.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
from scipy import sparse

from oppscope.history.schema import DAYS_PER_MONTH, OTHER_SERVICES, SERVICE_SLOTS, monthly_column, upfront_column

T = TypeVar("T")
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


def _per_distinct(values: np.ndarray, convert: Callable[[Any], T]) -> list[T]:
    """``convert`` of each value, applied once per distinct value (a million rows repeat a few thousand)."""
    plain = values.tolist()
    converted = {v: convert(v) for v in set(plain)}
    return list(map(converted.__getitem__, plain))


def _text(values: np.ndarray) -> np.ndarray:
    return np.array(_per_distinct(values, lambda v: "" if v is None else str(v).strip()), dtype=object)


def _money(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.zeros(n)
    arr = np.asarray(values, dtype=float)
    return np.where(np.isfinite(arr) & (arr > 0), arr, 0.0)


def _iso_to_ts(value: object) -> float:
    if not value:
        return math.nan
    try:
        d = date.fromisoformat(str(value)[:10])
    except ValueError:
        return math.nan
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def _date_to_ts(values: np.ndarray) -> np.ndarray:
    """ISO date strings to Unix seconds (NaN where absent or malformed)."""
    return np.array(_per_distinct(values, _iso_to_ts), dtype=float)


def row_block(matrix: sparse.csr_matrix, start: int, stop: int) -> sparse.csr_matrix:
    """Rows ``start`` to ``stop`` of a CSR matrix as a view of its arrays: scipy's slicing copies them, and a fit
    takes the older part of its history, design and TF-IDF rows several times. (scipy itself still copies a
    block holding less than half of the arrays, such as the newest part.)"""
    lo, hi = int(matrix.indptr[start]), int(matrix.indptr[stop])
    return sparse.csr_matrix(
        (matrix.data[lo:hi], matrix.indices[lo:hi], matrix.indptr[start : stop + 1] - lo),
        shape=(stop - start, matrix.shape[1]),
    )


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
    # Per row, its services by total cost, largest first: service ids service_order[service_starts[i]:...[i + 1]].
    service_order: np.ndarray
    service_starts: np.ndarray

    @cached_property
    def keys(self) -> dict[str, list[str]]:
        """The categorical columns normalized for comparison, computed once for every consumer.

        Each distinct value is normalized once (a million rows hold a few thousand distinct industries, countries
        or customers), and equal keys are one string object.
        """
        return {block: _per_distinct(np.asarray(values), normalize) for block, values in self.categorical.items()}

    @property
    def close_years(self) -> np.ndarray:
        return (self.close_ts.astype(float) - EPOCH_ORIGIN) / SECONDS_PER_YEAR

    def services_of(self, i: int) -> list[str]:
        ids = self.service_order[self.service_starts[i] : self.service_starts[i + 1]]
        return [self.service_names[j] for j in ids.tolist()]

    def rows(self, start: int, stop: int) -> History:
        """Rows ``start`` to ``stop`` as views of this history's arrays (what ``subset`` gives, without copies)."""
        first, last = int(self.service_starts[start]), int(self.service_starts[stop])
        return self._taken(
            slice(start, stop),
            stop - start,
            (row_block(self.service_monthly, start, stop), row_block(self.service_upfront, start, stop)),
            self.service_order[first:last],
            self.service_starts[start : stop + 1] - first,
        )

    def subset(self, mask: np.ndarray) -> History:
        idx = np.flatnonzero(mask)
        lengths = np.diff(self.service_starts)[idx]
        starts = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        positions = np.repeat(self.service_starts[idx] - starts[:-1], lengths) + np.arange(starts[-1])
        costs = (self.service_monthly[idx], self.service_upfront[idx])
        return self._taken(idx, len(idx), costs, self.service_order[positions], starts)

    def _taken(
        self,
        part: slice | np.ndarray,
        n: int,
        costs: tuple[sparse.csr_matrix, sparse.csr_matrix],
        service_order: np.ndarray,
        service_starts: np.ndarray,
    ) -> History:
        return History(
            n=n,
            opportunity_id=self.opportunity_id[part],
            opportunity_name=self.opportunity_name[part],
            description=self.description[part],
            business_description=self.business_description[part],
            categorical={k: v[part] for k, v in self.categorical.items()},
            close_ts=self.close_ts[part],
            start_date=self.start_date[part],
            end_date=self.end_date[part],
            mrr=self.mrr[part],
            upfront=self.upfront[part],
            arr=self.arr[part],
            stated_arr=self.stated_arr[part],
            ttl_months=self.ttl_months[part],
            duration_months=self.duration_months[part],
            service_names=self.service_names,
            service_monthly=costs[0],
            service_upfront=costs[1],
            service_order=service_order,
            service_starts=service_starts,
        )


# The table's columns the engine reads, in the groups ``history_from_fetch`` asks for them.
_TEXT_GROUP = ("opportunity_18_character_oppty_id", "opportunity_name", "description", "business_description")
_DATE_GROUP = ("annual_run_rate_usd", "planned_delivery_start_date", "planned_delivery_end_date")
_SERVICE_GROUPS = tuple(
    tuple(c for slot in SERVICE_SLOTS[i : i + 5] for c in (slot, monthly_column(slot), upfront_column(slot)))
    for i in range(0, len(SERVICE_SLOTS), 5)
)
Fetch = Callable[[Sequence[str]], Mapping[str, np.ndarray]]


def history_from_columns(columns: Mapping[str, np.ndarray]) -> History:
    """Derive the engine's view from raw table columns (as ``HistoryStore.fetch_columns`` returns them)."""
    return history_from_fetch(lambda names: {c: columns[c] for c in names if c in columns})


def history_from_fetch(fetch: Fetch) -> History:
    """The engine's view of a table read a few columns at a time: ``fetch(names)`` gives those of the columns
    the table has, every call in the same row order. Each group becomes the engine's arrays before the next is
    read: a million rows' raw values of every column at once were most of a fit's peak memory (a string object
    per value, the repeated categories too)."""
    close = np.asarray(fetch(["close_date"])["close_date"], dtype=np.int64)
    order = np.argsort(close, kind="stable")
    close = close[order]
    n = len(order)

    def group(names: Sequence[str]) -> dict[str, np.ndarray]:
        return {k: np.asarray(v)[order] for k, v in fetch(names).items()}

    service_names, monthly, upfront = _service_matrices((group(names) for names in _SERVICE_GROUPS), n)
    cols = group(_DATE_GROUP)
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

    def text(names: Sequence[str]) -> dict[str, np.ndarray]:
        raw = group(names)
        return {name: _text(raw.get(name, np.full(n, None))) for name in names}

    texts = text(_TEXT_GROUP)
    categorical = text(tuple(CATEGORICAL_COLUMNS.values()))
    return History(
        n=n,
        opportunity_id=texts["opportunity_18_character_oppty_id"],
        opportunity_name=texts["opportunity_name"],
        description=texts["description"],
        business_description=texts["business_description"],
        categorical={k: categorical[c] for k, c in CATEGORICAL_COLUMNS.items()},
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
        **_service_ranking(monthly + upfront),
    )


def _service_ranking(costs: sparse.csr_matrix) -> dict[str, np.ndarray]:
    """Each row's services by total cost (largest first, equal costs by service id), computed once so analyses
    never slice the sparse matrix; as two arrays, which the model file maps instead of pickling a tuple per row."""
    costs = costs.tocsr()
    costs.sort_indices()
    rows = np.repeat(np.arange(costs.shape[0]), np.diff(costs.indptr))
    order = np.lexsort((costs.indices, -costs.data, rows))
    return {"service_order": costs.indices[order].astype(np.int32), "service_starts": costs.indptr.astype(np.int64)}


def _service_matrices(
    groups: Iterable[Mapping[str, np.ndarray]], n: int
) -> tuple[tuple[str, ...], sparse.csr_matrix, sparse.csr_matrix]:
    """Pivot the ten service slots into (rows × distinct services) cost matrices."""
    index: dict[str, int] = {}
    display: list[str] = []
    rows: list[np.ndarray] = []
    col_ids: list[np.ndarray] = []
    monthly_vals: list[np.ndarray] = []
    upfront_vals: list[np.ndarray] = []
    for cols, slot in ((cols, slot) for cols in groups for slot in SERVICE_SLOTS if slot in cols):
        names = cols[slot]
        m = _money(cols.get(monthly_column(slot)), n)
        u = _money(cols.get(upfront_column(slot)), n)
        raws = np.array(names, dtype=object)
        keys = np.array(_per_distinct(raws, normalize), dtype=object)
        other = (keys == "") & ((m > 0) | (u > 0))  # costs without a name
        keys[other], raws[other] = normalize(OTHER_SERVICES), OTHER_SERVICES
        first = dict(zip(keys[::-1].tolist(), raws[::-1].tolist(), strict=True))  # key → its first row's name
        for key in dict.fromkeys(keys.tolist()):  # new services get ids in order of first appearance
            if key and key not in index:
                index[key] = len(display)
                display.append(str(first[key]).strip())
        lookup = index | {"": -1}
        ids = np.fromiter(map(lookup.__getitem__, keys.tolist()), dtype=np.int64, count=n)
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
