"""SQL text over the table ``parquet`` that any backend can run as it stands (DuckDB and Presto/Athena agree).

The original system showed the Athena SQL behind its analogs. oppscope finds analogs by similarity, so the
statement it shows is one that returns exactly the rows a reader's ``rows_by_id`` gives: anyone can run it
against the history to check them. Building it here keeps SQL out of the layers above the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from oppscope.history.schema import SERVICE_SLOTS, TABLE, literal, monthly_column, quote, upfront_column

ID_COLUMN: Final = "opportunity_18_character_oppty_id"
ROW_COLUMNS: Final[tuple[str, ...]] = (
    ID_COLUMN,
    "opportunity_name",
    "customer_name",
    "partner_name",
    "industry",
    "customer_segment",
    "opportunity_region",
    "oppertunity-sub-region",
    "country",
    "activity_name",
    "project_type",
    "description",
    "business_description",
    "close_date",
    "planned_delivery_start_date",
    "planned_delivery_end_date",
    "migration_phase",
    "annual_run_rate_usd",
    "apfp_aws_calculator_url",
    *(name for slot in SERVICE_SLOTS for name in (slot, monthly_column(slot), upfront_column(slot))),
)


def rows_by_id_sql(ids: Sequence[str], limit: int) -> str:
    """SELECT the rows with these opportunity ids, ranked as given (duplicates and blanks dropped)."""
    listed = [literal(i) for i in dict.fromkeys(ids) if i]
    column = quote(ID_COLUMN)
    where = f"{column} IN ({', '.join(listed)})" if listed else "FALSE"
    order = " ".join(f"WHEN {value} THEN {rank}" for rank, value in enumerate(listed, 1))
    return (
        f"SELECT {', '.join(quote(c) for c in ROW_COLUMNS)}\nFROM {quote(TABLE)}\nWHERE {where}\n"
        + (f"ORDER BY CASE {column} {order} END\n" if listed else "")
        + f"LIMIT {int(limit)}"
    )
