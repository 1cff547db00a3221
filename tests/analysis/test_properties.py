"""Any valid opportunity, however odd, gets a complete analysis whose numbers keep their rules."""

from __future__ import annotations

import json
import math
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.engine import Engine

# Printable text without control characters (those are refused by validation, tested elsewhere).
text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=200)
name = text.filter(lambda s: s.strip() != "")
scope = st.builds(
    lambda n, unit: f"Migrate {n} {unit}",
    st.one_of(st.integers(0, 10**12), st.floats(0, 1e9, allow_nan=False)),
    st.sampled_from(["servers", "TB", "users", "apps", "widgets", ""]),
)


@st.composite
def opportunities(draw: st.DrawFn) -> Opportunity:
    return Opportunity(
        customer_name=draw(name),
        region=draw(st.one_of(name, st.sampled_from(["Germany", "us-east-1", "EMEA", "APJ", "Brazil"]))),
        close_date=draw(st.dates(date(1990, 1, 1), date(2099, 12, 31))),
        opportunity_name=draw(name),
        description=draw(st.one_of(text, scope)),
        industry=draw(st.one_of(st.none(), text, st.sampled_from(["Retail", "Healthcare"]))),
        customer_segment=draw(st.one_of(st.none(), text, st.sampled_from(["Enterprise", "SMB"]))),
        activity_focus=draw(st.one_of(st.none(), text, st.sampled_from(["Migration", "AI/ML"]))),
        migration_phase=draw(st.one_of(st.none(), st.sampled_from(["Assess", "Mobilize"]))),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opportunity=opportunities())
def test_every_opportunity_gets_a_consistent_analysis(engine: Engine, opportunity: Opportunity) -> None:
    a = engine.analyze(opportunity)
    p = a.predictions
    for e in (p.arr, p.mrr, p.upfront_usd):
        assert all(math.isfinite(v) and v >= 0 for v in (e.low, e.value, e.high))
        assert e.low <= e.value <= e.high
    assert abs(p.arr.value - (12 * p.mrr.value + p.upfront_usd.value)) < 0.01
    assert p.time_to_launch_months is not None and p.time_to_launch_months.value >= 0
    assert 0 <= a.confidence.score <= 100
    assert a.similar_projects
    json.dumps(a.model_dump(mode="json"))
