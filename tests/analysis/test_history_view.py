"""The engine's column view of the history: read from the store a few columns at a time, and its row blocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from oppscope.analysis.dataset import History, history_from_fetch
from oppscope.history.duckdb_store import DuckDBHistoryStore


def _same(a: History, b: History) -> None:
    for field in dataclasses.fields(History):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, dict):
            assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x), field.name
        elif sparse.issparse(x):
            assert x.shape == y.shape and (x != y).nnz == 0, field.name
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), field.name
        else:
            assert x == y, field.name


def test_reading_a_few_columns_at_a_time_gives_the_whole_table_view(
    history: History, sample_store: DuckDBHistoryStore
) -> None:
    asked: list[tuple[str, ...]] = []

    def fetch(names: Sequence[str]) -> dict[str, np.ndarray]:
        asked.append(tuple(names))
        return sample_store.fetch_columns(names)

    _same(history_from_fetch(fetch), history)
    assert len(asked) > 3 and max(len(names) for names in asked) < 20  # never every column at once


def test_row_blocks_are_the_subsets_as_views(history: History) -> None:
    cut = history.n * 2 // 3
    position = np.arange(history.n)
    for start, stop in ((0, cut), (cut, history.n), (5, 6)):
        block = history.rows(start, stop)
        _same(block, history.subset((position >= start) & (position < stop)))
        assert np.shares_memory(block.arr, history.arr) and np.shares_memory(block.description, history.description)
    # scipy copies a block of less than half of a sparse matrix's arrays (it prunes such views); the older part
    # of a fit's history is the larger one.
    assert np.shares_memory(history.rows(0, cut).service_monthly.data, history.service_monthly.data)
