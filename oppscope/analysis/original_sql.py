"""The original system's retrieval, kept as a baseline: keyword relevance scoring in SQL, top 200 rows.

The original asked an LLM to write a Presto query of this shape against Athena and then read the top rows.
It is reproduced here deterministically (written in Presto, transpiled to DuckDB by sqlglot) so the backtest
and the benchmark can compare against it honestly: same table, same opportunity.
"""

from __future__ import annotations

from collections import Counter

import sqlglot
from sqlglot import exp

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.features import tokens
from oppscope.history.schema import SERVICE_SLOTS, TABLE, monthly_column, quote, upfront_column

ROW_LIMIT = 200
MAX_KEYWORDS = 8
_TEXT_COLUMNS = ("description", "opportunity_name", "business_description")


def keywords(opportunity: Opportunity) -> list[str]:
    words = [w for w in tokens(f"{opportunity.opportunity_name} {opportunity.description}") if len(w) >= 4]
    counts = Counter(words)
    return sorted(counts, key=lambda w: (-counts[w], -len(w), w))[:MAX_KEYWORDS]


def _lit(value: str) -> str:
    return exp.Literal.string(value.lower()).sql(dialect="presto")


def arr_expression() -> str:
    """ARR by the original rule, 12 × MRR + upfront, over the ten service slots."""
    monthly = " + ".join(f"COALESCE({quote(monthly_column(s))}, 0)" for s in SERVICE_SLOTS)
    upfront = " + ".join(f"COALESCE({quote(upfront_column(s))}, 0)" for s in SERVICE_SLOTS)
    return f"12 * ({monthly}) + ({upfront})"


def relevance_sql_presto(opportunity: Opportunity, close_before: int | None = None) -> str:
    terms = [
        f"CASE WHEN LOWER(country) = {_lit(opportunity.region)} THEN 20 ELSE 0 END",
    ]
    if opportunity.industry:
        terms.append(f"CASE WHEN LOWER(industry) = {_lit(opportunity.industry)} THEN 15 ELSE 0 END")
    if opportunity.customer_segment:
        terms.append(f"CASE WHEN LOWER(customer_segment) = {_lit(opportunity.customer_segment)} THEN 10 ELSE 0 END")
    for word in keywords(opportunity):
        like = " OR ".join(f"LOWER({c}) LIKE {_lit('%' + word + '%')}" for c in _TEXT_COLUMNS)
        terms.append(f"CASE WHEN {like} THEN 10 ELSE 0 END")
    where = f"WHERE close_date < {int(close_before)}" if close_before is not None else ""
    return (
        f"WITH scored AS (SELECT opportunity_18_character_oppty_id, customer_name, annual_run_rate_usd, "
        f"close_date, planned_delivery_start_date, {arr_expression()} AS arr_rule, "
        f"({' + '.join(terms)}) AS relevance_score FROM {quote(TABLE)} {where}) "
        f"SELECT * FROM scored ORDER BY relevance_score DESC, close_date DESC LIMIT {ROW_LIMIT}"
    )


def relevance_sql_duckdb(opportunity: Opportunity, close_before: int | None = None) -> str:
    return sqlglot.transpile(relevance_sql_presto(opportunity, close_before), read="presto", write="duckdb")[0]
