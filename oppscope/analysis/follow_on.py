"""What similar customers bought next, mined from customers with several projects in the history.

For each customer, consecutive projects in close-date order form a transition (type A → type B, months
from A's launch to B's close, B's ARR relative to A's). The table of transitions is built once per history;
an analysis reads the row of its own project type and scales sizes to its own predicted ARR.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from oppscope.analysis.dataset import DAYS_PER_MONTH, History, normalize
from oppscope.analysis.models import FollowOnOpportunity

MIN_EVIDENCE = 2


@dataclass
class _Transitions:
    gaps: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    customers: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FollowOnTable:
    source_counts: dict[str, int]  # project type → projects of that type
    transitions: dict[str, dict[str, _Transitions]]  # type → next type → evidence
    display: dict[str, str]

    @classmethod
    def build(cls, history: History) -> FollowOnTable:
        types = [normalize(t) for t in history.categorical["project_type"]]
        display = {normalize(t): str(t) for t in history.categorical["project_type"] if t}
        counts: dict[str, int] = defaultdict(int)
        by_customer: dict[str, list[int]] = defaultdict(list)
        for i, customer in enumerate(history.categorical["customer"]):
            if types[i]:
                counts[types[i]] += 1
            if customer:
                by_customer[normalize(customer)].append(i)  # rows are already in close-date order
        start_ts = history.close_ts + np.nan_to_num(history.ttl_months) * DAYS_PER_MONTH * 86400
        table: dict[str, dict[str, _Transitions]] = defaultdict(lambda: defaultdict(_Transitions))
        for customer, rows in by_customer.items():
            for a, b in pairwise(rows):
                if not types[a] or not types[b]:
                    continue
                t = table[types[a]][types[b]]
                t.gaps.append(max(0.0, (history.close_ts[b] - start_ts[a]) / 86400 / DAYS_PER_MONTH))
                if history.arr[a] > 0 and history.arr[b] > 0:
                    t.ratios.append(float(history.arr[b] / history.arr[a]))
                t.customers.add(customer)
                if len(t.examples) < 3:
                    t.examples.append(f"{history.categorical['customer'][b]}: {history.opportunity_name[b]}")
        return cls(dict(counts), {k: dict(v) for k, v in table.items()}, display)

    def suggest(self, project_type: str, predicted_arr: float, limit: int = 3) -> list[FollowOnOpportunity]:
        source = normalize(project_type)
        total = self.source_counts.get(source, 0)
        options = self.transitions.get(source, {})
        ranked = sorted(options.items(), key=lambda kv: (-len(kv[1].customers), kv[0]))
        out: list[FollowOnOpportunity] = []
        for target, t in ranked:
            if len(t.customers) < MIN_EVIDENCE or not total:
                continue
            ratio = float(np.median(t.ratios)) if t.ratios else 1.0
            gap = float(np.median(t.gaps))
            name = self.display.get(target, target)
            out.append(
                FollowOnOpportunity(
                    project_type=name,
                    description=(
                        f"{len(t.customers)} customers followed a {self.display.get(source, source)} project "
                        f"with {name}, typically {gap:.0f} months after launch, at {ratio:.2f}× its ARR"
                    ),
                    probability=round(min(1.0, len(t.gaps) / total), 3),
                    expected_arr_usd=round(predicted_arr * ratio, 2),
                    expected_months_after_launch=round(gap, 1),
                    evidence_customers=len(t.customers),
                    examples=t.examples,
                )
            )
            if len(out) == limit:
                break
        return out
