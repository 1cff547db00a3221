"""The sample generator: reproducible, schema-exact, internally consistent and truthful about its noise."""

from __future__ import annotations

import hashlib
import json
import math
import re
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oppscope.history import sample, schema
from oppscope.history.duckdb_store import DuckDBHistoryWriter
from oppscope.history.geo import AWS_REGION_COUNTRY, COUNTRY_GEO, US_SUB_REGIONS, resolve_region
from oppscope.history.sample import SampleHistory, generate_sample
from oppscope.history.schema import DAYS_PER_MONTH, OTHER_SERVICES

N = 5000
SEED = 20240601


@pytest.fixture(scope="module")
def history() -> SampleHistory:
    return generate_sample(N, SEED)


def _arr(row: dict[str, Any]) -> float:
    total = 0.0
    for slot in schema.SERVICE_SLOTS:
        total += 12 * (row[schema.monthly_column(slot)] or 0.0) + (row[schema.upfront_column(slot)] or 0.0)
    return total


def _close(row: dict[str, Any]) -> date:
    return datetime.fromtimestamp(row["close_date"], tz=UTC).date()


def _by_customer(history: SampleHistory) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(history.rows):
        groups[row["customer_name"]].append(i)
    return groups


def test_same_arguments_give_identical_rows_and_truth() -> None:
    a, b = generate_sample(400, 11), generate_sample(400, 11)
    assert a.rows == b.rows
    assert a.truth == b.truth
    assert generate_sample(400, 12).rows != a.rows


def test_the_default_sample_is_unchanged_by_its_catalogue_living_in_data(tmp_path: Path) -> None:
    """The rows' digest was taken before the catalogue moved from sample.py into data/sample_catalogue.json; the
    snapshot id pins the history's content digest of those same rows."""
    generated = generate_sample(5000, 20240601)
    rows = hashlib.sha256(json.dumps(generated.rows, sort_keys=True, default=str).encode()).hexdigest()
    assert rows == "d54b2df9d836f1047a96d6dc48899cffbc17c4d68a8910409aa5ca5e447f824a"
    report = DuckDBHistoryWriter(tmp_path / "history.duckdb").insert_rows(generated.rows)
    assert report.snapshot_id == "27a269de9252e51b"


def test_row_count_is_exact_for_small_and_odd_sizes() -> None:
    for n in (1, 2, 7, 333):
        generated = generate_sample(n, 3)
        assert len(generated.rows) == len(generated.truth) == n
    with pytest.raises(ValueError, match="at least 1"):
        generate_sample(0)


def test_rows_have_exactly_the_schema_columns_and_types(history: SampleHistory) -> None:
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    for row in history.rows:
        assert list(row) == list(schema.COLUMN_NAMES)
        assert type(row["close_date"]) is int
        assert iso.match(row["planned_delivery_start_date"]) and iso.match(row["planned_delivery_end_date"])
        for name, kind in schema.COLUMN_TYPES.items():
            value = row[name]
            if value is None:
                continue
            if kind == "DOUBLE":
                assert type(value) is float
                assert value == round(value, 2), (name, value)
            elif kind == "VARCHAR":
                assert type(value) is str and value, name
    assert date(2019, 1, 1) <= min(_close(r) for r in history.rows)
    assert max(_close(r) for r in history.rows) <= date(2025, 9, 30)


def test_services_add_up_to_the_realised_arr_within_a_cent() -> None:
    n, seed = 2000, 5
    draw = sample._draw(np.random.default_rng(seed), n)
    rows = generate_sample(n, seed).rows
    for row, log_arr in zip(rows, draw.log_arr.tolist(), strict=True):
        assert _arr(row) == pytest.approx(math.exp(log_arr), abs=0.01)


def test_truth_states_the_arr_noise_actually_applied(history: SampleHistory) -> None:
    z = [
        (math.log(_arr(row)) - t.log_arr_median) / t.arr_sigma
        for row, t in zip(history.rows, history.truth, strict=True)
    ]
    assert abs(statistics.fmean(z)) < 0.05
    assert 0.95 < statistics.pstdev(z) < 1.05
    assert [t.opportunity_id for t in history.truth] == [r["opportunity_18_character_oppty_id"] for r in history.rows]


def test_truth_states_the_time_to_launch_noise(history: SampleHistory) -> None:
    # Away from the 0.2-month floor the realised time to launch is the median plus N(0, 0.8).
    residuals = [
        (date.fromisoformat(row["planned_delivery_start_date"]) - _close(row)).days / DAYS_PER_MONTH
        - t.ttl_months_median
        for row, t in zip(history.rows, history.truth, strict=True)
        if t.ttl_months_median > 3
    ]
    assert len(residuals) > 500
    assert abs(statistics.fmean(residuals)) < 0.08
    assert 0.72 < statistics.pstdev(residuals) < 0.88


def test_planned_delivery_starts_after_close_and_ends_after_start(history: SampleHistory) -> None:
    for row in history.rows:
        start = date.fromisoformat(row["planned_delivery_start_date"])
        assert start > _close(row)
        assert date.fromisoformat(row["planned_delivery_end_date"]) > start


def test_many_customers_return_and_their_projects_follow_in_time(history: SampleHistory) -> None:
    groups = _by_customer(history)
    repeat = [rows for rows in groups.values() if len(rows) > 1]
    assert len(repeat) >= 0.25 * len(groups)
    assert any(len(rows) >= 5 for rows in groups.values())
    for rows in repeat:
        days = [_close(history.rows[i]) for i in rows]
        gaps = [(b - a).days for a, b in pairwise(days)]
        assert all(4 * DAYS_PER_MONTH - 1 <= g <= 18 * DAYS_PER_MONTH + 1 for g in gaps), gaps


def test_customer_paths_run_from_migration_towards_data_and_ai(history: SampleHistory) -> None:
    repeat = [rows for rows in _by_customer(history).values() if len(rows) > 1]

    def share(position: int, project_type: str) -> float:
        return statistics.fmean(history.rows[rows[position]]["project_type"] == project_type for rows in repeat)

    assert share(0, "Migration") > 1.5 * share(-1, "Migration")
    assert share(-1, "AI/ML") > 1.5 * share(0, "AI/ML")


def test_customer_attributes_are_stable_across_its_projects(history: SampleHistory) -> None:
    for rows in _by_customer(history).values():
        first = history.rows[rows[0]]
        for i in rows[1:]:
            row = history.rows[i]
            for column in ("customer_segment", "industry", "country", "aws account id", "oppertunity-sub-region"):
                assert row[column] == first[column]
        assert len({history.rows[i]["business_description"] for i in rows}) <= 2
        assert len({history.rows[i]["partner_name"] for i in rows}) <= 2


def test_median_arr_is_ordered_by_segment(history: SampleHistory) -> None:
    by_segment: dict[str, list[float]] = defaultdict(list)
    for row in history.rows:
        by_segment[row["customer_segment"]].append(_arr(row))
    median = {segment: statistics.median(values) for segment, values in by_segment.items()}
    assert median["Enterprise"] > median["Mid-Market"] > median["SMB"]


def test_more_projects_close_in_later_years(history: SampleHistory) -> None:
    per_year: dict[int, int] = defaultdict(int)
    for row in history.rows:
        per_year[_close(row).year] += 1
    assert per_year[2019] < per_year[2021] < per_year[2023] < per_year[2024]


def test_stated_arr_is_near_the_computed_one_and_sometimes_missing(history: SampleHistory) -> None:
    stated = [(row["annual_run_rate_usd"], _arr(row)) for row in history.rows]
    missing = sum(s is None for s, _ in stated) / len(stated)
    assert 0.02 < missing < 0.09
    assert all(0.75 <= s / a <= 1.25 for s, a in stated if s is not None)


def test_services_fill_slots_in_order_with_other_services_last(history: SampleHistory) -> None:
    with_upfront = 0
    for row in history.rows:
        names = [row[slot] for slot in schema.SERVICE_SLOTS]
        filled = [n for n in names if n is not None]
        assert 3 <= len(filled) <= 10
        assert names[: len(filled)] == filled
        assert names[9] in (None, OTHER_SERVICES)
        assert len(set(filled)) == len(filled)
        monthly = [row[schema.monthly_column(s)] for s in schema.SERVICE_SLOTS[: len(filled)]]
        assert all(m > 0 for m in monthly)
        with_upfront += any(row[schema.upfront_column(s)] for s in schema.SERVICE_SLOTS[: len(filled)])
    assert 0.2 < with_upfront / len(history.rows) < 0.4


def test_identifiers_are_well_formed_and_unique(history: SampleHistory) -> None:
    ids = [row["opportunity_18_character_oppty_id"] for row in history.rows]
    assert len(set(ids)) == len(ids)
    for oid in ids:
        assert re.fullmatch(r"006[0-9A-Za-z]{15}", oid)
        assert sample._sfdc_id(oid[:15]) == oid
    apn = [row["apn_oppty_id"] for row in history.rows]
    assert len(set(apn)) == len(apn) and all(re.fullmatch(r"O\d{7}", a) for a in apn)
    for row in history.rows:
        assert re.fullmatch(r"[0-9a-f]{40}", row["calculator_uid"])
        assert row["apfp_aws_calculator_url"] == f"https://calculator.aws/#/estimate?id={row['calculator_uid']}"
        assert re.fullmatch(r"\d{12}", row["aws account id"])
        assert re.fullmatch(r"\d{12}", row["aws_account_id_for_this_project"])
        assert (row["spms_id"] is None) == (row["program"] == "None")


def test_geography_comes_from_geo(history: SampleHistory) -> None:
    us_sub_regions = {name for name, _ in US_SUB_REGIONS}
    for row in history.rows:
        region, sub_region = COUNTRY_GEO[row["country"]]
        assert row["opportunity_region"] == region
        if row["country"] == "United States":
            assert row["oppertunity-sub-region"] in us_sub_regions
        else:
            assert row["oppertunity-sub-region"] == sub_region
    assert {row["opportunity_region"] for row in history.rows} == {"NAMER", "EMEA", "APJ", "LATAM"}


def test_descriptions_state_the_scope_and_names_read_like_opportunities(history: SampleHistory) -> None:
    for row in history.rows:
        assert re.search(r"\d", row["description"])
        assert row["opportunity_name"].count(" - ") >= 1
        assert row["business_description"].endswith(".")
    assert len({row["customer_name"] for row in history.rows}) > N / 3


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("us-east-1", "United States"),
        ("EU-CENTRAL-1", "Germany"),
        ("ap-southeast-2", "Australia"),
        ("USA", "United States"),
        ("us", "United States"),
        ("UK", "United Kingdom"),
        (" Deutschland ", "Germany"),
        ("united   kingdom", "United Kingdom"),
        ("Europe (Frankfurt)", "Germany"),
        ("US East (N. Virginia)", "United States"),
        ("Canada (Central)", "Canada"),
        ("please deploy in eu-west-2", "United Kingdom"),
        ("brasil", "Brazil"),
        ("Atlantis", None),
        ("", None),
        ("xx-north-9", None),
    ],
)
def test_resolve_region(text: str, country: str | None) -> None:
    assert resolve_region(text) == country


def test_every_region_code_maps_to_a_known_geography() -> None:
    assert len(AWS_REGION_COUNTRY) >= 30
    for country in AWS_REGION_COUNTRY.values():
        assert COUNTRY_GEO[country][0] in {"NAMER", "EMEA", "APJ", "LATAM"}
