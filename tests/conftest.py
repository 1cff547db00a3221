"""Shared fixtures: a real DuckDB history filled with the generated sample, and an engine fitted on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oppscope.analysis.dataset import History, history_from_columns
from oppscope.analysis.engine import Engine, EngineConfig
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.sample import SampleHistory, generate_sample

SAMPLE_ROWS = 3000
SAMPLE_SEED = 11


@pytest.fixture(scope="session")
def sample() -> SampleHistory:
    return generate_sample(SAMPLE_ROWS, SAMPLE_SEED)


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory, sample: SampleHistory) -> Iterator[DuckDBHistoryStore]:
    store = DuckDBHistoryStore(tmp_path_factory.mktemp("history") / "history.duckdb")
    store.insert_rows(sample.rows)
    yield store
    store.close()


@pytest.fixture(scope="session")
def history(sample_store: DuckDBHistoryStore) -> History:
    return history_from_columns(sample_store.fetch_columns())


@pytest.fixture(scope="session")
def engine(history: History, sample_store: DuckDBHistoryStore) -> Engine:
    return Engine.fit(history, sample_store.snapshot_id(), EngineConfig())
