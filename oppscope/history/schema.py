"""The history table, column for column as the original Athena table ``parquet``.

Names are kept verbatim (spaces, ``$`` and the original misspelling ``oppertunity-sub-region`` included) so that
an export of the original table imports unchanged and the original's Presto queries run against it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final, Literal

TABLE: Final = "parquet"

ColumnType = Literal["VARCHAR", "BIGINT", "DOUBLE"]

SERVICE_SLOTS: Final[tuple[str, ...]] = (*(f"service{i}" for i in range(1, 10)), "servicex")
# What ``servicex`` holds when a project ran more services than the nine named slots.
OTHER_SERVICES: Final = "Other services"
# The plausible window for a project's close date (end exclusive), for the history and for new opportunities.
CLOSE_DATE_START: Final = date(1990, 1, 1)
CLOSE_DATE_END: Final = date(2101, 1, 1)
# Months between the table's dates are counted in average Gregorian months of days.
DAYS_PER_MONTH: Final = 30.4375


def monthly_column(slot: str) -> str:
    return f"monthly $ {slot}"


def upfront_column(slot: str) -> str:
    return f"upfront $ {slot}"


_TEXT_COLUMNS: Final[tuple[str, ...]] = (
    "activity_name",
    "project_type",
    "cor_gtm_apn_sfdc",
    "program",
    "unified program mapping",
    "customer_name",
    "aws account id",
)
_TEXT_COLUMNS_2: Final[tuple[str, ...]] = (
    "aws_account_id_for_this_project",
    "opportunity_18_character_oppty_id",
    "apn_oppty_id",
    "customer_segment",
    "industry",
)
_TEXT_COLUMNS_3: Final[tuple[str, ...]] = (
    "migration_phase",
    "opportunity_region",
    "oppertunity-sub-region",
    "country",
    "opportunity_name",
    "description",
    "business_description",
    "partner_name",
    "spms_id",
    "apfp_aws_calculator_url",
    "calculator_uid",
)


def _build_columns() -> tuple[tuple[str, ColumnType], ...]:
    cols: list[tuple[str, ColumnType]] = [(c, "VARCHAR") for c in _TEXT_COLUMNS]
    cols.append(("annual_run_rate_usd", "DOUBLE"))
    cols += [(c, "VARCHAR") for c in _TEXT_COLUMNS_2]
    cols.append(("close_date", "BIGINT"))
    # Planned dates stay ISO strings, as in the original table, so its date_parse(...) queries keep working.
    cols += [("planned_delivery_start_date", "VARCHAR"), ("planned_delivery_end_date", "VARCHAR")]
    cols += [(c, "VARCHAR") for c in _TEXT_COLUMNS_3]
    for slot in SERVICE_SLOTS:
        cols += [(slot, "VARCHAR"), (monthly_column(slot), "DOUBLE"), (upfront_column(slot), "DOUBLE")]
    return tuple(cols)


COLUMNS: Final[tuple[tuple[str, ColumnType], ...]] = _build_columns()
COLUMN_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in COLUMNS)
COLUMN_TYPES: Final[dict[str, ColumnType]] = dict(COLUMNS)


def quote(name: str) -> str:
    """Quote an identifier for DuckDB/Presto (names here contain spaces, ``$`` and ``-``)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal (for paths and names in statements DuckDB cannot parameterise, like COPY)."""
    return "'" + value.replace("'", "''") + "'"


def column_list() -> str:
    return ", ".join(quote(c) for c in COLUMN_NAMES)


def create_table_sql(table: str = TABLE) -> str:
    body = ",\n  ".join(f"{quote(n)} {t}" for n, t in COLUMNS)
    return f"CREATE TABLE {quote(table)} (\n  {body}\n)"


def add_months(day: date, months: float) -> date:
    """``months`` after ``day`` in the history's month length, as launch dates and timelines count them."""
    return day + timedelta(days=months * DAYS_PER_MONTH)
