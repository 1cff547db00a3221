"""Follow-on opportunities and funding on small histories whose right answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from oppscope.analysis.dataset import History, history_from_columns
from oppscope.analysis.follow_on import FollowOnTable
from oppscope.analysis.funding import load_rules, recommend
from oppscope.analysis.similarity import Analogs

DAY = 86_400


def _history(projects: list[tuple[str, str, float, str]]) -> History:
    """(customer, project type, monthly cost, program) per project, one week apart, in this order."""
    n = len(projects)
    return history_from_columns(
        {
            "customer_name": np.array([p[0] for p in projects], dtype=object),
            "project_type": np.array([p[1] for p in projects], dtype=object),
            "program": np.array([p[3] for p in projects], dtype=object),
            "opportunity_name": np.array([f"project {i}" for i in range(n)], dtype=object),
            "opportunity_18_character_oppty_id": np.array([f"id-{i}" for i in range(n)], dtype=object),
            "close_date": np.arange(n, dtype=np.int64) * 7 * DAY + 1_600_000_000,
            "service1": np.full(n, "Amazon EC2", dtype=object),
            "monthly $ service1": np.array([p[2] for p in projects]),
        }
    )


def test_follow_on_counts_what_customers_bought_next() -> None:
    projects = [
        ("A", "Migration", 1000, ""), ("A", "AI/ML", 2000, ""),
        ("B", "Migration", 1000, ""), ("B", "AI/ML", 3000, ""),
        ("C", "Migration", 1000, ""), ("C", "Data", 500, ""),
        ("D", "Migration", 1000, ""), ("D", "Data", 500, ""),
        ("E", "Migration", 1000, ""),  # no second project
        ("F", "Migration", 1000, ""), ("F", "Security", 1000, ""),  # one customer only: not evidence enough
    ]  # fmt: skip
    suggestions = FollowOnTable.build(_history(projects)).suggest("migration", predicted_arr=100_000)
    assert [(s.project_type, s.evidence_customers) for s in suggestions] == [("AI/ML", 2), ("Data", 2)]
    ai = suggestions[0]
    assert ai.probability == pytest.approx(2 / 6, abs=1e-3)  # two of the six migrations were followed by AI/ML
    assert ai.expected_arr_usd == pytest.approx(100_000 * 2.5)  # median of the ARR ratios 2 and 3
    assert FollowOnTable.build(_history(projects)).suggest("Containers", 100_000) == []


def _analogs(history: History) -> Analogs:
    n = history.n
    return Analogs(np.arange(n), np.ones(n), np.full(n, 1 / n), {})


def test_funding_follows_the_rule_table_and_cites_precedent() -> None:
    history = _history([("A", "Migration", 50_000, "MAP"), ("B", "Migration", 40_000, "None")])
    rules = load_rules()
    found = recommend(
        rules, project_type="migration", segment="enterprise", text="Migrate 400 servers",
        predicted_arr=600_000, history=history, analogs=_analogs(history),
    )  # fmt: skip
    by_name = {r.program: r for r in found}
    assert "Migration Acceleration Program (MAP)" in by_name
    assert by_name["Migration Acceleration Program (MAP)"].supporting_analogs == ["id-0"]
    assert "MAP Lite" not in by_name  # its ARR ceiling is below this opportunity
    assert found[0].program == "Migration Acceleration Program (MAP)"  # precedent first

    small = recommend(
        rules, project_type="containers", segment="smb", text="Small web app",
        predicted_arr=5_000, history=history, analogs=_analogs(history),
    )  # fmt: skip
    assert small == []
