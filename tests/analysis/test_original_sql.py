"""The original system's retrieval, reproduced as a baseline, runs on the real table and is injection-safe."""

from __future__ import annotations

from datetime import date

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.original_sql import ROW_LIMIT, keywords, relevance_sql_duckdb, relevance_sql_presto
from oppscope.history.duckdb_store import DuckDBHistoryStore


def _opportunity(**changes: str) -> Opportunity:
    data = {
        "customer_name": "Acme",
        "region": "Germany",
        "close_date": date(2026, 1, 1),
        "opportunity_name": "SAP migration",
        "description": "Migrate the SAP landscape and 200 servers; Oracle databases move to Aurora.",
        "industry": "Manufacturing",
    } | changes
    return Opportunity.model_validate(data)


def test_keywords_come_from_name_and_description() -> None:
    words = keywords(_opportunity())
    assert "migrate" in words or "migration" in words
    assert "oracle" in words
    assert all(len(w) >= 4 for w in words)


def test_relevance_sql_runs_and_ranks(sample_store: DuckDBHistoryStore) -> None:
    rows = sample_store.query(relevance_sql_duckdb(_opportunity()))
    assert 0 < len(rows) <= ROW_LIMIT
    scores = [r[-1] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0


def test_quotes_in_input_cannot_break_out_of_the_literal(sample_store: DuckDBHistoryStore) -> None:
    hostile = _opportunity(region="x' OR 1=1; DROP TABLE parquet; --", industry="O'Brien & Sons")
    assert "''" in relevance_sql_presto(hostile)
    sample_store.query(relevance_sql_duckdb(hostile))
    assert sample_store.row_count() > 0


def test_cutoff_excludes_later_projects(sample_store: DuckDBHistoryStore) -> None:
    cutoff = 1_600_000_000
    rows = sample_store.query(relevance_sql_duckdb(_opportunity(), close_before=cutoff))
    assert all(r[3] < cutoff for r in rows)
