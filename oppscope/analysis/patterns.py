"""Input patterns: which optional fields an opportunity states.

Sellers rarely fill in every field (the original page sends the five required ones), and an estimate that
leaned on an unstated field would be confidently wrong. So the engine keeps one regression, one calibration
and one set of confidence cut points per pattern, each learned on held-out history restated in exactly that
pattern. An input is served by the richest calibrated pattern whose *usual* fields it all states (a field
the history itself fills in for most projects; the migration phase, empty for projects that are no
migration, does not have to be stated): whatever else it states still helps find similar projects, but the
interval stays the one measured for what the model used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import History

OPTIONAL_FIELDS: tuple[str, ...] = (
    "industry", "customer_segment", "partner_name", "activity_focus", "business_description", "migration_phase",
)
# Model blocks each optional field informs; geography comes from the required region and is always known.
FIELD_BLOCKS: dict[str, tuple[str, ...]] = {
    "industry": ("industry",),
    "customer_segment": ("segment",),
    "partner_name": ("partner",),
    "activity_focus": ("activity", "project_type"),
    "migration_phase": ("phase",),
}
ALWAYS_BLOCKS: tuple[str, ...] = ("country", "region", "subregion")


@dataclass(frozen=True)
class Pattern:
    name: str
    fields: frozenset[str]

    @property
    def blocks(self) -> frozenset[str]:
        return frozenset(ALWAYS_BLOCKS).union(*(FIELD_BLOCKS.get(f, ()) for f in self.fields))

    @property
    def business(self) -> bool:
        return "business_description" in self.fields


PATTERNS: tuple[Pattern, ...] = (
    Pattern("required", frozenset()),
    Pattern("profile", frozenset({"industry", "customer_segment", "business_description", "migration_phase"})),
    Pattern("full", frozenset(OPTIONAL_FIELDS)),
)
BY_NAME: dict[str, Pattern] = {p.name: p for p in PATTERNS}


USUAL_SHARE = 0.5  # a field the history states for at least this share of its projects is a usual one


def stated_fields(opportunity: Opportunity) -> frozenset[str]:
    return frozenset(f for f in OPTIONAL_FIELDS if (getattr(opportunity, f) or "").strip())


def usual_fields(history: History) -> frozenset[str]:
    """The optional fields the history states for most of its projects."""
    c = history.categorical
    stated = {
        "industry": c["industry"],
        "customer_segment": c["segment"],
        "partner_name": c["partner"],
        "activity_focus": np.where(c["activity"] != "", c["activity"], c["project_type"]),
        "business_description": history.business_description,
        "migration_phase": c["phase"],
    }
    n = max(history.n, 1)
    return frozenset(f for f, values in stated.items() if (values != "").sum() / n >= USUAL_SHARE)


def pattern_for(stated: frozenset[str], usual: frozenset[str]) -> Pattern:
    """The richest calibrated pattern whose usual fields are all stated (``required`` always qualifies)."""
    fitting = [p for p in PATTERNS if p.fields & usual <= stated]
    return max(fitting, key=lambda p: len(p.fields))


def restate(opportunity: Opportunity, pattern: Pattern) -> Opportunity:
    """The opportunity with only ``pattern``'s optional fields kept (the others as if left empty)."""
    return opportunity.model_copy(update={f: None for f in OPTIONAL_FIELDS if f not in pattern.fields})
