"""The analogs an analysis lists, as a SQL statement over the history table and the rows it returns.

The original showed the Athena SQL its LLM wrote and the rows that came back. oppscope finds analogs by
similarity, not by a query, so it shows a real statement that returns exactly the analogs the analysis
lists, in its order (``history.sql`` writes it; the history reader returns the same rows without SQL from
here). The rows fill the fields of the report's SIMILAR PROJECTS blocks that the analysis does not keep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from oppscope.history.interfaces import HistoryReader
from oppscope.history.sql import ID_COLUMN, rows_by_id_sql
from oppscope.history.store import HistoryError


@dataclass(frozen=True)
class AnalogQuery:
    sql: str
    rows: list[dict[str, Any]]
    error: str  # why the rows are missing; "" when the statement ran

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {str(row[ID_COLUMN]): row for row in self.rows}


def run_analog_query(open_reader: Callable[[], HistoryReader], ids: Sequence[str], row_limit: int) -> AnalogQuery:
    """The statement and its rows; a history that fails here leaves the rows out rather than the answer."""
    sql = rows_by_id_sql(ids, row_limit)
    try:
        with open_reader() as reader:
            rows = reader.rows_by_id(ids, row_limit)
    except HistoryError as exc:
        return AnalogQuery(sql, [], exc.message)
    return AnalogQuery(sql, rows, "")
