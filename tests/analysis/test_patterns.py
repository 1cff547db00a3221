"""Input patterns: which model serves an input, and that each pattern's model only uses what it states."""

from __future__ import annotations

from datetime import date

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import History
from oppscope.analysis.engine import Engine
from oppscope.analysis.patterns import BY_NAME, OPTIONAL_FIELDS, pattern_for, restate, stated_fields, usual_fields

REQUIRED = {"customer_name": "Nordwind Logistik", "region": "Germany", "close_date": date(2026, 3, 31),
            "opportunity_name": "Warehouse platform migration", "description": "Migrate 240 servers"}
PROFILE = {"industry": "Manufacturing", "customer_segment": "Enterprise",
           "business_description": "Nordwind Logistik moves freight across Europe with about 9,000 employees."}


def test_an_input_is_served_by_the_richest_pattern_whose_usual_fields_it_states() -> None:
    everything = frozenset(OPTIONAL_FIELDS)
    assert pattern_for(frozenset(), everything).name == "required"
    assert pattern_for(frozenset({"industry", "customer_segment"}), everything).name == "required"
    profile = frozenset({"industry", "customer_segment", "business_description"})
    # The migration phase is not a usual field of the history (empty for projects that are no migration).
    assert pattern_for(profile, everything - {"migration_phase"}).name == "profile"
    assert pattern_for(profile | {"activity_focus", "partner_name"}, everything - {"migration_phase"}).name == "full"
    # A history without business descriptions (nor phases) does not ask for one.
    usual = everything - {"business_description", "migration_phase"}
    assert pattern_for(frozenset({"industry", "customer_segment"}), usual).name == "profile"


def test_restating_keeps_only_the_patterns_fields() -> None:
    full = Opportunity(**REQUIRED, **PROFILE, activity_focus="Migration", partner_name="Polder IT")
    profile = restate(full, BY_NAME["profile"])
    assert stated_fields(profile) == frozenset({"industry", "customer_segment", "business_description"})
    assert stated_fields(restate(full, BY_NAME["required"])) == frozenset()
    assert restate(full, BY_NAME["full"]) == full


def test_usual_fields_are_read_from_the_history(history: History) -> None:
    usual = usual_fields(history)
    assert {"industry", "customer_segment", "activity_focus", "business_description"} <= usual
    assert "migration_phase" not in usual  # the sample states it for migrations only


def test_each_pattern_is_calibrated_and_named_in_the_confidence_reasons(engine: Engine) -> None:
    for fields, name in (({}, "required"), (PROFILE, "profile")):
        analysis = engine.analyze(Opportunity(**REQUIRED, **fields))
        assert any(f"pattern '{name}'" in r for r in analysis.confidence.reasons), analysis.confidence.reasons
        arr = analysis.predictions.arr
        assert arr.low < arr.value < arr.high
    assert set(engine.params.patterns) == {"required", "profile", "full"}


def test_a_patterns_model_leaves_unstated_fields_out(engine: Engine) -> None:
    space = engine.core.space
    required = engine.core.pattern_models["required"]["arr"].ridge.coef
    full = engine.core.pattern_models["full"]["arr"].ridge.coef
    for block in ("industry", "segment", "project_type", "activity", "partner"):
        columns = list(space.levels[block].values())
        assert not required[columns].any(), block
        assert full[columns].any(), block
    assert not required[list(space.business_vocab.values())].any()
