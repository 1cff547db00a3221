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

from oppscope.analysis.contracts import FollowOnOpportunity
from oppscope.analysis.dataset import History, normalize
from oppscope.history.schema import DAYS_PER_MONTH

MIN_EVIDENCE = 2


@dataclass
class _Evidence:
    gaps: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    customers: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    """Summary of every observed move from one project type to another."""

    target: str
    count: int
    customers: int
    median_gap_months: float
    median_arr_ratio: float
    examples: tuple[str, ...]


@dataclass(frozen=True)
class FollowOnTable:
    source_counts: dict[str, int]  # project type → projects of that type
    transitions: dict[str, tuple[Transition, ...]]  # type → moves, most customers first
    display: dict[str, str]

    @classmethod
    def build(cls, history: History) -> FollowOnTable:
        types = history.keys["project_type"]
        display = {k: str(t) for k, t in zip(types, history.categorical["project_type"], strict=True) if k}
        counts: dict[str, int] = defaultdict(int)
        by_customer: dict[str, list[int]] = defaultdict(list)
        for i, customer in enumerate(history.keys["customer"]):
            if types[i]:
                counts[types[i]] += 1
            if customer:
                by_customer[customer].append(i)  # rows are already in close-date order
        start_ts = history.close_ts + np.nan_to_num(history.ttl_months) * DAYS_PER_MONTH * 86400
        table: dict[str, dict[str, _Evidence]] = defaultdict(lambda: defaultdict(_Evidence))
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
        transitions = {
            source: tuple(
                sorted(
                    (
                        Transition(
                            target=target,
                            count=len(e.gaps),
                            customers=len(e.customers),
                            median_gap_months=float(np.median(e.gaps)),
                            median_arr_ratio=float(np.median(e.ratios)) if e.ratios else 1.0,
                            examples=tuple(e.examples),
                        )
                        for target, e in moves.items()
                    ),
                    key=lambda t: (-t.customers, t.target),
                )
            )
            for source, moves in table.items()
        }
        return cls(dict(counts), transitions, display)

    def suggest(self, project_type: str, predicted_arr: float, limit: int = 3) -> list[FollowOnOpportunity]:
        source = normalize(project_type)
        total = self.source_counts.get(source, 0)
        out: list[FollowOnOpportunity] = []
        for t in self.transitions.get(source, ()):
            if t.customers < MIN_EVIDENCE or not total:
                continue
            name = self.display.get(t.target, t.target)
            out.append(
                FollowOnOpportunity(
                    project_type=name,
                    description=(
                        f"{t.customers} customers followed a {self.display.get(source, source)} project "
                        f"with {name}, typically {t.median_gap_months:.0f} months after launch, "
                        f"at {t.median_arr_ratio:.2f}× its ARR"
                    ),
                    probability=round(min(1.0, t.count / total), 3),
                    expected_arr_usd=round(predicted_arr * t.median_arr_ratio, 2),
                    expected_months_after_launch=round(t.median_gap_months, 1),
                    evidence_customers=t.customers,
                    examples=list(t.examples),
                )
            )
            if len(out) == limit:
                break
        return out
