"""The analogs an analysis lists, as a SQL statement over the history table and the rows it returns.

The original showed the Athena SQL its LLM wrote and the rows that came back. oppscope finds analogs by
similarity, not by a query, so instead of inventing one it shows a real statement that returns exactly the
analogs the analysis lists, in its order: anyone can run it against the history to check them, and the rows
fill the fields of the report's SIMILAR PROJECTS blocks that the analysis does not keep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from oppscope.history.schema import SERVICE_SLOTS, TABLE, literal, monthly_column, quote, upfront_column
from oppscope.history.store import HistoryError, HistoryStore

ID_COLUMN: Final = "opportunity_18_character_oppty_id"
COLUMNS: Final[tuple[str, ...]] = (
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


@dataclass(frozen=True)
class AnalogQuery:
    sql: str
    rows: list[dict[str, Any]]
    error: str  # why the rows are missing; "" when the statement ran

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {str(row[ID_COLUMN]): row for row in self.rows}


def analog_sql(ids: Sequence[str], row_limit: int) -> str:
    """SELECT the rows with these opportunity ids, ranked as given; portable to DuckDB and Presto."""
    listed = [literal(i) for i in dict.fromkeys(ids) if i]
    column = quote(ID_COLUMN)
    where = f"{column} IN ({', '.join(listed)})" if listed else "FALSE"
    order = " ".join(f"WHEN {value} THEN {rank}" for rank, value in enumerate(listed, 1))
    return (
        f"SELECT {', '.join(quote(c) for c in COLUMNS)}\nFROM {quote(TABLE)}\nWHERE {where}\n"
        + (f"ORDER BY CASE {column} {order} END\n" if listed else "")
        + f"LIMIT {row_limit}"
    )


def run_analog_query(open_reader: Callable[[], HistoryStore], ids: Sequence[str], row_limit: int) -> AnalogQuery:
    """Run the statement read-only; a history that fails here leaves the rows out rather than the answer."""
    sql = analog_sql(ids, row_limit)
    try:
        with open_reader() as store:
            rows = store.query(sql)
    except HistoryError as exc:
        return AnalogQuery(sql, [], exc.message)
    return AnalogQuery(sql, [dict(zip(COLUMNS, row, strict=True)) for row in rows], "")
