"""Funding recommendations from a rule table kept as data (``oppscope/data/funding_rules.toml``).

A rule says when a program is a candidate; the history says whether similar projects actually used it.
Both are shown, so a seller sees the rule and the precedent.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from oppscope.analysis.contracts import FundingRecommendation
from oppscope.analysis.dataset import History, normalize
from oppscope.analysis.similarity import Analogs

RULES_PATH = Path(__file__).resolve().parent.parent / "data" / "funding_rules.toml"


@dataclass(frozen=True)
class FundingRule:
    name: str
    description: str
    project_types: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    min_arr_usd: float = 0.0
    max_arr_usd: float | None = None
    history_programs: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.project_types or self.keywords:
            parts.append(
                "project type in {" + ", ".join(self.project_types) + "}"
                + (" or text mentions {" + ", ".join(self.keywords) + "}" if self.keywords else "")
            )
        if self.segments:
            parts.append("segment in {" + ", ".join(self.segments) + "}")
        bound = f"predicted ARR ≥ ${self.min_arr_usd:,.0f}"
        if self.max_arr_usd is not None:
            bound += f" and < ${self.max_arr_usd:,.0f}"
        parts.append(bound)
        return "; ".join(parts)


def load_rules(path: Path = RULES_PATH) -> tuple[FundingRule, ...]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    return tuple(
        FundingRule(
            name=p["name"],
            description=p["description"],
            project_types=tuple(normalize(t) for t in p.get("project_types", [])),
            keywords=tuple(k.lower() for k in p.get("keywords", [])),
            segments=tuple(normalize(s) for s in p.get("segments", [])),
            min_arr_usd=float(p.get("min_arr_usd", 0.0)),
            max_arr_usd=float(p["max_arr_usd"]) if "max_arr_usd" in p else None,
            history_programs=tuple(normalize(h) for h in p.get("history_programs", [])),
        )
        for p in data.get("program", [])
    )


def recommend(
    rules: tuple[FundingRule, ...],
    *,
    project_type: str,
    segment: str,
    text: str,
    predicted_arr: float,
    history: History,
    analogs: Analogs,
) -> list[FundingRecommendation]:
    lowered = text.lower()
    programs = [history.keys["program"][i] for i in analogs.index]
    out: list[FundingRecommendation] = []
    for rule in rules:
        scoped = not (rule.project_types or rule.keywords)
        type_hit = project_type in rule.project_types
        word_hits = [k for k in rule.keywords if k in lowered]
        if not (scoped or type_hit or word_hits):
            continue
        if rule.segments and segment not in rule.segments:
            continue
        if predicted_arr < rule.min_arr_usd or (rule.max_arr_usd is not None and predicted_arr >= rule.max_arr_usd):
            continue
        used = [i for i, p in zip(analogs.index, programs, strict=True) if p and p in rule.history_programs]
        share = sum(analogs.weight[k] for k, p in enumerate(programs) if p and p in rule.history_programs)
        why = []
        if type_hit:
            why.append(f"project type '{project_type}' qualifies")
        if word_hits:
            why.append("the description mentions " + ", ".join(f"'{w}'" for w in word_hits[:3]))
        why.append(f"predicted ARR ${predicted_arr:,.0f} meets the threshold")
        why.append(
            f"{len(used)} of {len(analogs.index)} analogs (weighted share {share:.0%}) used this program"
            if used
            else "no analog in the history used this program"
        )
        out.append(
            FundingRecommendation(
                program=rule.name,
                description=rule.description,
                rule=rule.describe(),
                justification="; ".join(why),
                supporting_analogs=[str(history.opportunity_id[i]) for i in used[:10]],
            )
        )
    # Programs with precedent first: a rule with analogs behind it is the stronger recommendation.
    out.sort(key=lambda r: -len(r.supporting_analogs))
    return out
