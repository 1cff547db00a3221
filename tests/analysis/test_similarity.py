"""The analog scan: its fast arithmetic gives the plain formula's numbers, and the best rows in a fixed order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from oppscope.analysis.dataset import History
from oppscope.analysis.features import FeatureSpace, history_profiles
from oppscope.analysis.similarity import (
    _HALF_WEIGHTS,
    BLOCK_WEIGHTS,
    NO_MATCH,
    SCAN_CHUNK,
    TEXT_WEIGHT,
    TIME_SCALE_YEARS,
    TIME_WEIGHT,
    Query,
    SimilarityIndex,
    _compiled_scan,
)


@pytest.fixture(scope="module")
def index(history: History) -> SimilarityIndex:
    profiles = history_profiles(history)
    return SimilarityIndex(history, FeatureSpace.fit(profiles).tfidf(profiles))


def _query(history: History, index: SimilarityIndex, row: int, blocks: list[str]) -> Query:
    tf = index.row_terms[row]
    codes = {b: index.code(b, history.keys[b][row]) for b in blocks}
    codes["segment"] = NO_MATCH  # a stated value the history never saw counts in the weight, matches nothing
    return Query(codes, tf.indices, tf.data, float(history.close_years[row]) + 0.7)


def test_scores_are_the_weighted_share_of_agreements(history: History, index: SimilarityIndex) -> None:
    text = index.tfidf.toarray()
    for row in (0, history.n // 2, history.n - 1):
        query = _query(history, index, row, ["customer", "industry", "country", "project_type"])
        agree = sum(BLOCK_WEIGHTS[b] * (index.codes[b] == c) for b, c in query.codes.items() if c != NO_MATCH)
        dense_query = np.zeros(text.shape[1])
        dense_query[query.text_cols] = query.text_vals
        time = np.exp(-np.abs(history.close_years - query.close_year) / TIME_SCALE_YEARS)
        weight = TEXT_WEIGHT + TIME_WEIGHT + sum(BLOCK_WEIGHTS[b] for b in query.codes)
        expected = (agree + TEXT_WEIGHT * (text @ dense_query) + TIME_WEIGHT * time) / weight
        every = index.nearest(query, history.n)  # every row, so every score
        scores = np.empty(history.n)
        scores[every.index] = every.similarity
        assert np.allclose(scores, expected, rtol=1e-12, atol=0)
        assert scores[row] > np.median(scores)


def test_a_query_matches_its_own_row_best(history: History, index: SimilarityIndex) -> None:
    row = history.n // 3
    query = _query(history, index, row, list(BLOCK_WEIGHTS))
    query = Query({b: c for b, c in query.codes.items() if b != "segment"}, query.text_cols, query.text_vals,
                  float(history.close_years[row]))
    analogs = index.nearest(query, 25)
    assert analogs.index[0] == row or analogs.similarity[0] == analogs.similarity[list(analogs.index).index(row)]
    assert all(hits[0] for hits in analogs.matched.values())
    assert np.all(np.diff(analogs.similarity) <= 0) and analogs.weight.sum() == pytest.approx(1.0)
    empty = SimilarityIndex(history.subset(np.zeros(history.n, dtype=bool)), index.row_terms[:0])
    assert len(empty.nearest(query, 25).index) == 0


def _plain_scores(codes: np.ndarray, wanted: np.ndarray, halves: np.ndarray, customer_rows: np.ndarray,
                  year_of: np.ndarray, closeness: np.ndarray, text: sparse.csc_matrix, cols: np.ndarray,
                  vals: np.ndarray, weight_sum: float) -> np.ndarray:
    """The scan's formula as plain numpy and scipy, in the order the scores were first defined."""
    count = np.zeros(codes.shape[1], dtype=np.int8)
    for row_codes, code, half in zip(codes, wanted, halves, strict=True):
        if half:
            count += (row_codes == code) * half
    count[customer_rows] += _HALF_WEIGHTS["customer"]
    total = count * 0.5
    if len(cols):
        total += TEXT_WEIGHT * np.asarray(text[:, cols] @ vals).ravel()
    total += closeness[year_of]
    return total / weight_sum


@pytest.mark.parametrize("rows", [0, 1, 1000, SCAN_CHUNK + 12_345, 2 * SCAN_CHUNK])
def test_the_compiled_scan_gives_scipys_numbers_to_the_bit_and_the_best_rows_in_order(rows: int) -> None:
    """Every row's score (all rows asked for) and the 25 best, highest first and equal scores by row: rows
    without a text match tie often (the same agreements and close year), and without text most rows tie."""
    rng = np.random.default_rng(rows)
    codes = rng.integers(-1, 40, size=(8, rows)).astype(np.int8)
    wanted = rng.integers(0, 40, size=8).astype(np.int8)
    halves = np.array([4, 2, 3, 3, 2, 0, 1, 1], dtype=np.int8)  # one block not stated
    customer_rows = np.sort(rng.choice(rows, size=min(rows, 37), replace=False)).astype(np.int32)
    year_of = np.sort(rng.integers(0, 300, size=rows))
    run_starts = np.flatnonzero(np.diff(year_of, prepend=-1, append=-1)).astype(np.int64)
    closeness = TIME_WEIGHT * np.exp(-rng.random(300))
    text = sparse.random(rows, 500, density=0.05, format="csc", random_state=rng)
    scan = _compiled_scan()
    for cols in (rng.choice(500, size=40, replace=False).astype(np.int32), np.zeros(0, dtype=np.int32)):
        vals = rng.random(len(cols))
        want = _plain_scores(codes, wanted, halves, customer_rows, year_of, closeness, text, cols, vals, 11.5)
        order = np.lexsort((np.arange(rows), -want))
        for k in (min(25, rows), rows):
            top, scores = scan(codes, wanted, halves, customer_rows, _HALF_WEIGHTS["customer"], run_starts,
                               closeness[year_of[run_starts[:-1]]], text.indptr, text.indices, text.data, cols, vals,
                               TEXT_WEIGHT, 11.5, k)
            assert top.tolist() == order[:k].tolist()
            assert scores.dtype == np.float64
            assert scores.view(np.uint64).tolist() == want[order[:k]].view(np.uint64).tolist()


def test_when_every_row_ties_the_earliest_come_first() -> None:
    rows = 50_000
    codes = np.zeros((8, rows), dtype=np.int8)
    text = sparse.csc_matrix((rows, 3))
    nothing = np.zeros(8, dtype=np.int8)
    top, _ = _compiled_scan()(codes, nothing, nothing, np.zeros(0, dtype=np.int32), _HALF_WEIGHTS["customer"],
                              np.array([0, rows]), np.array([0.3]), text.indptr, text.indices, text.data,
                              np.zeros(0, dtype=np.int32), np.zeros(0), TEXT_WEIGHT, 3.0, 25)
    assert top.tolist() == list(range(25))
