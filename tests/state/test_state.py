"""The state database: migrations, the analysis store, and durability of a committed analysis."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from oppscope.analyses.sql_store import SqlAnalysisStore
from oppscope.analyses.store import AnalysisQuery, IdempotencyConflictError, NewAnalysis
from oppscope.analysis.contracts import Analysis, Opportunity
from oppscope.analysis.engine import Engine
from oppscope.config import load_settings
from oppscope.state.db import state_engine
from oppscope.state.migrate import StateNotMigratedError, head_revision, require_compatible, upgrade
from oppscope.state.tables import metadata
from tests.examples import OPPORTUNITY


def test_upgrade_is_safe_to_run_twice(tmp_path: Path) -> None:
    with state_engine(load_settings(data_dir=tmp_path)) as engine:
        with pytest.raises(StateNotMigratedError, match="not initialised"):
            require_compatible(engine)
        first, second = upgrade(engine), upgrade(engine)
        assert (first.before, first.after, first.changed) == (None, head_revision(), True)
        assert (second.before, second.changed) == (head_revision(), False)
        require_compatible(engine)


def test_migrations_build_exactly_the_tables_the_code_queries(tmp_path: Path) -> None:
    with state_engine(load_settings(data_dir=tmp_path)) as engine:
        upgrade(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_state_database_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    with state_engine(load_settings(data_dir=tmp_path)) as engine, engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_store_idempotency_is_per_caller(tmp_path: Path, engine: Engine) -> None:
    doc = engine.analyze(Opportunity.model_validate(OPPORTUNITY))
    with state_engine(load_settings(data_dir=tmp_path)) as state:
        upgrade(state)
        store = SqlAnalysisStore(state)
        first, created = store.save(NewAnalysis(doc, "token:a", idempotency_key="k", request_sha256="h1"))
        again, created_again = store.save(NewAnalysis(doc, "token:a", idempotency_key="k", request_sha256="h1"))
        assert created and not created_again and again.id == first.id
        other, other_created = store.save(NewAnalysis(doc, "token:b", idempotency_key="k", request_sha256="h1"))
        assert other_created and other.id != first.id
        with pytest.raises(IdempotencyConflictError):
            store.save(NewAnalysis(doc, "token:a", idempotency_key="k", request_sha256="h2"))
        assert store.list(AnalysisQuery()).total == 2
        stored = store.get(first.id)
        assert stored is not None
        assert Analysis.model_validate(stored.analysis) == doc
