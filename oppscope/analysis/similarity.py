"""Finding the analogs: the delivered projects most like the new opportunity.

Similarity is a weighted share of agreements (same customer, type, industry, segment, geography ...), text
overlap (TF-IDF cosine) and closeness in time. It is built to be explained ("same industry, shares 'sap',
'hana'") and to be fast: every term is a vectorised comparison over integer codes or a sparse column slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


# A strided sample of this many scores gives a threshold that every one of the k best reaches (the sample's k-th
# best is at most the whole history's), so only the few rows above it are sorted.
TOP_SAMPLE = 4096


def _codes(values: Sequence[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Codes in order of first appearance, -1 for empty; each distinct value is looked at once."""
    vocab = {v: i for i, v in enumerate(v for v in dict.fromkeys(values) if v)}
    lookup = vocab | {"": -1}
    return np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values)), vocab


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """The rows of the ``k`` highest scores, highest first; equal scores by row (the earlier project first)."""
    sample = score[:: max(1, len(score) // TOP_SAMPLE)]
    candidates = np.flatnonzero(score >= np.partition(sample, len(sample) - k)[len(sample) - k]) if (
        len(sample) > k
    ) else np.arange(len(score))
    values = score[candidates]
    kth = -np.partition(-values, k - 1)[k - 1]
    above = candidates[values > kth]
    top = np.concatenate([above, candidates[values == kth][: k - len(above)]])
    ordered: np.ndarray = top[np.lexsort((top, -score[top]))]
    return ordered


class SimilarityIndex:
    """Integer-coded categorical columns and a column-major TF-IDF matrix of the history.

    Every query is scored against every row, so the scan is kept to a few cheap passes at a million rows: the
    agreements are counted in half-weights in one byte per row (every block weight is a multiple of 0.5, so the
    sum is exact and equal to the float one), and closeness in time is computed once per distinct close date.
    """

    def __init__(self, history: History, tfidf: sparse.csr_matrix) -> None:
        self.vocabulary: dict[str, dict[str, int]] = {}
        self.codes: dict[str, np.ndarray] = {}
        for block in BLOCK_WEIGHTS:
            self.codes[block], self.vocabulary[block] = _codes(history.keys[block])
        self.tfidf = tfidf.tocsc()  # column slices for scoring one query against every row
        self.row_terms = tfidf.tocsr()  # row slices for explaining one analog
        years, year_of = distinct(history.close_years)
        self.years, self.year_of = years, year_of.astype(np.int32)
        customer = self.codes["customer"]
        self._customer_order = np.argsort(customer, kind="stable").astype(np.int32)  # rows grouped by customer
        groups = np.arange(len(self.vocabulary["customer"]) + 1)
        self._customer_starts = np.searchsorted(customer[self._customer_order], groups)

    def code(self, block: str, value: str) -> int:
        return self.vocabulary[block].get(normalize(value), NO_MATCH)

    def customer_rows(self, customer: str) -> np.ndarray:
        """The rows of a (normalized) customer's projects, in row order; none for a customer new to the history."""
        code = self.vocabulary["customer"].get(customer)
        if code is None:
            return np.zeros(0, dtype=np.int32)
        rows: np.ndarray = self._customer_order[self._customer_starts[code] : self._customer_starts[code + 1]]
        return rows

    def scores(self, query: Query) -> np.ndarray:
        """Similarity of every history row to the query, 0..1 (share of the stated fields' weight matched)."""
        halves = np.zeros(len(self.year_of), dtype=np.int8)
        weight_sum = TEXT_WEIGHT + TIME_WEIGHT
        for block, code in query.codes.items():
            weight_sum += BLOCK_WEIGHTS[block]
            if code != NO_MATCH:
                halves += (self.codes[block] == code) * _HALF_WEIGHTS[block]
        total = halves * 0.5
        if len(query.text_cols):
            total += TEXT_WEIGHT * np.asarray(self.tfidf[:, query.text_cols] @ query.text_vals).ravel()
        closeness = TIME_WEIGHT * np.exp(-np.abs(self.years - query.close_year) / TIME_SCALE_YEARS)
        total += closeness[self.year_of]
        return total / weight_sum

    def nearest(self, query: Query, k: int) -> Analogs:
        score = self.scores(query)
        k = min(k, len(score))
        if k <= 0:
            empty = np.zeros(0)
            return Analogs(np.zeros(0, dtype=int), empty, empty, {})
        top = _top(score, k)
        sim = np.clip(score[top], 0.0, 1.0)
        w = np.exp(WEIGHT_SHARPNESS * (sim - sim[0]))
        matched = {b: self.codes[b][top] == c for b, c in query.codes.items() if c != NO_MATCH}
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
