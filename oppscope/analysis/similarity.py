"""Finding the analogs: the delivered projects most like the new opportunity.

Similarity is a weighted share of agreements (same customer, type, industry, segment, geography ...), text
overlap (TF-IDF cosine) and closeness in time. It is built to be explained ("same industry, shares 'sap',
'hana'") and to be fast: every term is a vectorised comparison over integer codes or a sparse column slice.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import sparse

from oppscope.analysis.dataset import History, normalize
from oppscope.analysis.features import distinct

BLOCK_WEIGHTS: dict[str, float] = {
    "customer": 3.0,
    "project_type": 2.0,
    "activity": 1.0,
    "industry": 1.5,
    "segment": 1.5,
    "country": 1.0,
    "region": 0.5,
    "phase": 0.5,
    "partner": 0.5,
}
_HALF_WEIGHTS = {block: np.int8(round(2 * w)) for block, w in BLOCK_WEIGHTS.items()}
if any(h / 2 != BLOCK_WEIGHTS[b] for b, h in _HALF_WEIGHTS.items()):
    raise ValueError("block weights must be multiples of 0.5: agreements are counted in half-weights")
TEXT_WEIGHT = 2.5
TIME_WEIGHT = 0.5
TIME_SCALE_YEARS = 3.0
# Analog weights fall off exponentially below the best match: 0.1 less similarity ≈ half the weight.
WEIGHT_SHARPNESS = 7.0

REASON_LABELS: dict[str, str] = {
    "customer": "same customer",
    "project_type": "same project type",
    "activity": "same activity",
    "industry": "same industry",
    "segment": "same segment",
    "country": "same country",
    "region": "same region",
    "phase": "same migration phase",
    "partner": "same partner",
}

NO_MATCH = -2


@dataclass(frozen=True)
class Query:
    codes: dict[str, int]  # block → code in the index (NO_MATCH when unknown); only blocks the user stated
    text_cols: np.ndarray  # TF-IDF vocabulary columns of the query text
    text_vals: np.ndarray
    close_year: float


@dataclass(frozen=True)
class Analogs:
    index: np.ndarray  # rows of the history, most similar first
    similarity: np.ndarray  # 0..1
    weight: np.ndarray  # relative weights summing to 1
    matched: dict[str, np.ndarray]  # block → bool per analog

    @property
    def effective_count(self) -> float:
        return float(1.0 / np.square(self.weight).sum()) if len(self.weight) else 0.0


def _codes(values: Sequence[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Codes in order of first appearance, -1 for empty; each distinct value is looked at once."""
    vocab = {v: i for i, v in enumerate(v for v in dict.fromkeys(values) if v)}
    lookup = vocab | {"": -1}
    return np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values)), vocab


# Rows scored at a time: the chunk's text sums (8 bytes a row, 2 MB) stay in the core's cache while every query term
# adds to them, the final scores are written and the best rows are picked.
SCAN_CHUNK = 1 << 18


def _scan_rows(
    block_codes: np.ndarray,
    wanted: np.ndarray,
    halves: np.ndarray,
    customer_rows: np.ndarray,
    customer_half: int,
    run_starts: np.ndarray,
    run_closeness: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    text_weight: float,
    weight_sum: float,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows (``k`` at most the row count) and their scores, best first and equal scores by row (the
    earlier project first), in one pass over the rows, a chunk at a time, with numpy's arithmetic in numpy's order.

    Per row: the text sum adds each query column's product in the query's column order, starting from zero (as
    scipy's CSC product does); then ``half-weights * 0.5 + text_weight * text``, plus the close year's closeness,
    divided by ``weight_sum``. Each column's rows are sorted, so a chunk's entries are one slice per column.
    ``customer_rows`` are in row order. Only the chunk's scores are kept: the best rows so far are a heap of
    (score, -row), first ``k`` placeholders that any row beats, whose root is the weakest (the lowest score, of equal
    ones the latest row), so a later row replaces it only with a higher score. Compiled by numba
    (``_compiled_scan``): as Python it is the readable reference.
    The inner loops index slices from zero, not whole arrays at an offset: numba vectorises only the former (with
    offsets the scan at a million rows took about 12 ms instead of about 6).
    """
    n = block_codes.shape[1]
    sums = np.empty(min(SCAN_CHUNK, n))
    count = np.empty(min(SCAN_CHUNK, n), dtype=np.int8)
    best = [(-np.inf, 1)] * k
    pos = np.empty(len(cols), dtype=np.int64)
    end = np.empty(len(cols), dtype=np.int64)
    for c in range(len(cols)):
        pos[c], end[c] = indptr[cols[c]], indptr[cols[c] + 1]
    customer, run = 0, 0
    for start in range(0, n, SCAN_CHUNK):
        stop = min(start + SCAN_CHUNK, n)
        scores = sums[: stop - start]
        scores[:] = 0.0
        for c in range(len(cols)):
            first, value = pos[c], vals[c]
            last = first + np.searchsorted(indices[first : end[c]], stop)
            rows, weights = indices[first:last], data[first:last]
            for e in range(len(rows)):
                scores[rows[e] - start] += weights[e] * value
            pos[c] = last
        counts = count[: stop - start]
        counts[:] = 0
        for b in range(len(wanted)):
            if halves[b] != 0:
                code, half, row_codes = wanted[b], halves[b], block_codes[b, start:stop]
                for r in range(len(counts)):
                    counts[r] += (row_codes[r] == code) * half
        while customer < len(customer_rows) and customer_rows[customer] < stop:
            counts[customer_rows[customer] - start] += customer_half
            customer += 1
        r = start
        while r < stop:
            while run_starts[run + 1] <= r:
                run += 1
            run_end = min(run_starts[run + 1], stop)
            closeness, run_counts = run_closeness[run], counts[r - start : run_end - start]
            run_scores = scores[r - start : run_end - start]
            for i in range(len(run_scores)):
                run_scores[i] = (run_counts[i] * 0.5 + text_weight * run_scores[i] + closeness) / weight_sum
            threshold, above = best[0][0] if k else np.inf, 0
            for i in range(len(run_scores)):
                above += run_scores[i] > threshold  # vectorised: most runs hold no better row, and skip the heap
            if above:
                for i in range(len(run_scores)):
                    if run_scores[i] > threshold:
                        heapq.heapreplace(best, (run_scores[i], -(r + i)))
                        threshold = best[0][0]
            r = run_end
    best.sort(reverse=True)
    top, top_scores = np.empty(k, dtype=np.int64), np.empty(k)
    for i in range(k):
        top_scores[i], top[i] = best[i][0], -best[i][1]
    return top, top_scores


@cache
def _compiled_scan() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``_scan_rows`` compiled, on the first scan in a process (compiled code is cached under ``__pycache__``):
    importing numba takes 0.4 to 0.7 s, which the commands that import the engine but never score a query (such as
    ``oppscope diagnose`` and ``capacity``) would pay at every start."""
    import numba

    scan: Callable[..., tuple[np.ndarray, np.ndarray]] = numba.njit(cache=True, nogil=True)(_scan_rows)
    return scan


class SimilarityIndex:
    """Integer-coded categorical columns and a column-major TF-IDF matrix of the history.

    Every query is scored against every row, so the scan is kept to a few cheap passes at a million rows: the
    agreements are counted in half-weights in one byte per row (every block weight is a multiple of 0.5, so the
    sum is exact and equal to the float one), and closeness in time is computed once per distinct close date.
    """

    def __init__(self, history: History, tfidf: sparse.csr_matrix) -> None:
        self.vocabulary: dict[str, dict[str, int]] = {}
        codes: dict[str, np.ndarray] = {}
        for block in BLOCK_WEIGHTS:
            codes[block], self.vocabulary[block] = _codes(history.keys[block])
        self.customer_codes = codes.pop("customer")
        # The other blocks have small vocabularies: one narrow row each, read a chunk at a time by the scan.
        self.scanned_blocks = tuple(codes)
        width = max(len(self.vocabulary[b]) for b in codes)
        narrow = next(t for t in (np.int8, np.int16, np.int32) if np.iinfo(t).max >= width)
        self.block_codes = np.stack([codes[b].astype(narrow) for b in codes])
        self.tfidf = tfidf.tocsc()  # column slices for scoring one query against every row
        self.row_terms = tfidf.tocsr()  # row slices for explaining one analog
        years, year_of = distinct(history.close_years)
        # Rows are in close-date order, so equal close years come in runs: closeness is looked up once per run.
        self.years = years
        self._run_starts = np.flatnonzero(np.diff(year_of, prepend=-1, append=-1)).astype(np.int64)
        self._run_years = year_of[self._run_starts[:-1]].astype(np.int32)
        self._customer_order = np.argsort(self.customer_codes, kind="stable").astype(np.int32)  # rows by customer
        groups = np.arange(len(self.vocabulary["customer"]) + 1)
        self._customer_starts = np.searchsorted(self.customer_codes[self._customer_order], groups)

    @property
    def codes(self) -> dict[str, np.ndarray]:
        """Block → each row's code (-1 where the history left it empty)."""
        return {"customer": self.customer_codes, **dict(zip(self.scanned_blocks, self.block_codes, strict=True))}

    def code(self, block: str, value: str) -> int:
        return self.vocabulary[block].get(normalize(value), NO_MATCH)

    def _customer_group(self, code: int) -> np.ndarray:
        """The rows of one customer code, in row order (the sort that grouped them is stable)."""
        rows: np.ndarray = self._customer_order[self._customer_starts[code] : self._customer_starts[code + 1]]
        return rows

    def customer_rows(self, customer: str) -> np.ndarray:
        """The rows of a (normalized) customer's projects, in row order; none for a customer new to the history."""
        code = self.vocabulary["customer"].get(customer)
        return np.zeros(0, dtype=np.int32) if code is None else self._customer_group(code)

    def nearest(self, query: Query, k: int) -> Analogs:
        """The ``k`` rows most similar to the query; similarity is the share of the stated fields' weight matched."""
        k = min(k, len(self.customer_codes))
        if k <= 0:
            empty = np.zeros(0)
            return Analogs(np.zeros(0, dtype=int), empty, empty, {})
        weight_sum = TEXT_WEIGHT + TIME_WEIGHT + sum(BLOCK_WEIGHTS[b] for b in query.codes)
        wanted = np.zeros(len(self.scanned_blocks), dtype=self.block_codes.dtype)
        halves = np.zeros(len(self.scanned_blocks), dtype=np.int8)
        for i, block in enumerate(self.scanned_blocks):
            code = query.codes.get(block, NO_MATCH)
            if code != NO_MATCH:
                wanted[i], halves[i] = code, _HALF_WEIGHTS[block]
        customer = query.codes.get("customer", NO_MATCH)
        known = 0 <= customer < len(self.vocabulary["customer"])  # a code of another index matches no row
        customer_rows = self._customer_group(customer) if known else np.zeros(0, dtype=np.int32)
        closeness = TIME_WEIGHT * np.exp(-np.abs(self.years - query.close_year) / TIME_SCALE_YEARS)
        t = self.tfidf
        top, score = _compiled_scan()(
            self.block_codes, wanted, halves, customer_rows, _HALF_WEIGHTS["customer"], self._run_starts,
            closeness[self._run_years], t.indptr, t.indices, t.data, query.text_cols, query.text_vals,
            TEXT_WEIGHT, weight_sum, k,
        )
        sim = np.clip(score, 0.0, 1.0)
        w = np.exp(WEIGHT_SHARPNESS * (sim - sim[0]))
        codes = self.codes
        matched = {b: codes[b][top] == c for b, c in query.codes.items() if c != NO_MATCH}
        return Analogs(top, sim, w / w.sum(), matched)

    def shared_terms(self, row: int, query: Query) -> np.ndarray:
        """Vocabulary columns (TF-IDF order) that the analog's text shares with the query's."""
        start, end = self.row_terms.indptr[row], self.row_terms.indptr[row + 1]
        return np.intersect1d(self.row_terms.indices[start:end], query.text_cols)


def match_reasons(analogs: Analogs, position: int, shared_terms: list[str]) -> list[str]:
    reasons = [REASON_LABELS[b] for b, hits in analogs.matched.items() if hits[position]]
    if shared_terms:
        reasons.append("shares " + ", ".join(f"'{t}'" for t in shared_terms[:5]))
    return reasons
