"""From what a seller typed to what the history knows.

Sellers write "eu-central-1" where the history says "Germany", leave the segment empty for a customer the
partner has served five times, or give an activity focus that names a project type. Resolving this against
the history's own vocabulary (never a fixed list) is what lets an unseen history work unchanged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import EPOCH_ORIGIN, SECONDS_PER_YEAR, History, normalize
from oppscope.analysis.features import Profile, tokens
from oppscope.history.geo import COUNTRY_GEO, resolve_region

_FILLABLE_FROM_CUSTOMER = ("industry", "segment", "partner", "country")
_DIRECT_FIELDS = {
    "industry": "industry",
    "customer_segment": "segment",
    "partner_name": "partner",
    "migration_phase": "phase",
}


def _majority(keys: list[str], values: list[str], purity: float) -> dict[str, str]:
    """key → the value it co-occurs with most, kept only when that value dominates."""
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for (k, v), count in Counter(zip(keys, values, strict=True)).items():  # counted at C speed, then per pair
        if k and v:
            groups[k][v] += count
    out: dict[str, str] = {}
    for k, counts in groups.items():
        value, count = counts.most_common(1)[0]
        if count / sum(counts.values()) >= purity:
            out[k] = value
    return out


@dataclass(frozen=True)
class Vocabulary:
    """Distinct values of the history and the relations between them."""

    display: dict[str, dict[str, str]]  # block → normalized value (the vocabulary) → as the history wrote it
    country_region: dict[str, str]
    country_subregion: dict[str, str]
    activity_type: dict[str, str]
    customer_latest: dict[str, int]  # normalized customer → its latest row

    @classmethod
    def build(cls, history: History) -> Vocabulary:
        cat = history.keys
        display: dict[str, dict[str, str]] = {}
        for b, vals in history.categorical.items():
            # Each key as its first row wrote it (the reversed pairs' last write), in order of first appearance.
            first = dict(zip(reversed(cat[b]), reversed(list(vals)), strict=True))
            display[b] = {key: str(first[key]) for key in dict.fromkeys(cat[b]) if key}
        latest = dict(zip(cat["customer"], range(history.n), strict=True))  # rows are in close-date order
        latest.pop("", None)
        return cls(
            display=display,
            country_region=_majority(cat["country"], cat["region"], 0.5),
            country_subregion=_majority(cat["country"], cat["subregion"], 0.5),
            activity_type=_majority(cat["activity"], cat["project_type"], 0.8),
            customer_latest=latest,
        )


@dataclass
class Resolution:
    profile: Profile
    notes: list[str] = field(default_factory=list)  # what was inferred, for the report
    unknown: list[str] = field(default_factory=list)  # stated values the history has never seen


def _closest(value: str, candidates: Iterable[str], min_overlap: float = 0.5) -> str | None:
    want = tokens(value)
    best, best_score = None, 0.0
    for c in sorted(candidates):
        have = tokens(c)
        if want and have:
            score = len(want & have) / len(want | have)
            if score > best_score:
                best, best_score = c, score
    return best if best_score >= min_overlap else None


def resolve(opportunity: Opportunity, vocab: Vocabulary, history: History, close_year: float) -> Resolution:
    cat: dict[str, str] = dict.fromkeys(("customer", *vocab.display), "")
    notes: list[str] = []
    unknown: list[str] = []
    cat["customer"] = normalize(opportunity.customer_name)
    text_parts = [opportunity.opportunity_name, opportunity.description]

    for field_name, block in _DIRECT_FIELDS.items():
        raw = getattr(opportunity, field_name)
        if raw:
            cat[block] = normalize(raw)
            if cat[block] not in vocab.display[block]:
                unknown.append(f"{field_name} '{raw}'")

    _resolve_geography(opportunity.region, vocab, cat, notes, unknown)
    if opportunity.activity_focus:
        _resolve_activity(opportunity.activity_focus, vocab, cat, notes, text_parts)

    row = vocab.customer_latest.get(cat["customer"])
    if row is not None:
        for block in _FILLABLE_FROM_CUSTOMER:
            value = history.keys[block][row]
            if not cat[block] and value:
                cat[block] = value
                notes.append(f"{block} '{history.categorical[block][row]}' taken from the customer's history")
        if cat["country"]:
            cat["region"] = cat["region"] or vocab.country_region.get(cat["country"], "")
            cat["subregion"] = cat["subregion"] or vocab.country_subregion.get(cat["country"], "")

    profile = Profile(
        categorical=cat,
        text=" ".join(p for p in text_parts if p),
        close_year=close_year,
        business=opportunity.business_description or "",
    )
    return Resolution(profile=profile, notes=notes, unknown=unknown)


def _resolve_geography(
    region: str, vocab: Vocabulary, cat: dict[str, str], notes: list[str], unknown: list[str]
) -> None:
    """Read the region field as a country (or a whole region), then place the country in its region."""
    key = normalize(region)
    for block in ("region", "subregion"):
        if key in vocab.display[block] and key not in vocab.display["country"]:
            cat[block] = key
            return
    if key in vocab.display["country"]:
        country = vocab.display["country"][key]
    else:
        resolved = resolve_region(region)
        if resolved is None:
            unknown.append(f"region '{region}'")
            return
        country = resolved
        notes.append(f"region '{region}' read as {country}")
        if normalize(country) not in vocab.display["country"]:
            unknown.append(f"country '{country}'")
    cat["country"] = normalize(country)
    # The history's own placement of the country first; the built-in geography when the history has none.
    geo = COUNTRY_GEO.get(country)
    cat["region"] = vocab.country_region.get(cat["country"]) or (normalize(geo[0]) if geo else "")
    cat["subregion"] = vocab.country_subregion.get(cat["country"]) or (normalize(geo[1]) if geo else "")


def _resolve_activity(
    activity: str, vocab: Vocabulary, cat: dict[str, str], notes: list[str], text_parts: list[str]
) -> None:
    key = normalize(activity)
    if key in vocab.display["activity"]:
        cat["activity"] = key
    if key in vocab.display["project_type"]:
        cat["project_type"] = key
    if not cat["activity"] and not cat["project_type"]:
        match = _closest(key, vocab.display["project_type"])
        if match is None:
            text_parts.append(activity)
            return
        cat["project_type"] = match
        notes.append(f"activity focus '{activity}' read as project type '{vocab.display['project_type'][match]}'")
    if cat["activity"] and not cat["project_type"] and cat["activity"] in vocab.activity_type:
        cat["project_type"] = vocab.activity_type[cat["activity"]]


def history_row_as_opportunity(history: History, i: int) -> Opportunity:
    """A history row restated as the opportunity a seller would have typed (for calibration and backtests)."""
    c = history.categorical
    return Opportunity.model_construct(
        id=str(history.opportunity_id[i]),
        customer_name=str(c["customer"][i]) or "unknown",
        region=str(c["country"][i] or c["region"][i]) or "unknown",
        close_date=datetime.fromtimestamp(int(history.close_ts[i]), tz=UTC).date(),
        opportunity_name=str(history.opportunity_name[i]) or "unnamed",
        description=str(history.description[i]),
        industry=c["industry"][i] or None,
        customer_segment=c["segment"][i] or None,
        partner_name=c["partner"][i] or None,
        activity_focus=(c["activity"][i] or c["project_type"][i]) or None,
        business_description=history.business_description[i] or None,
        migration_phase=c["phase"][i] or None,
        salesforce_link=None,
        aws_calculator_link=None,
    )


def close_year_of(opportunity: Opportunity) -> float:
    d = opportunity.close_date
    return (datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() - EPOCH_ORIGIN) / SECONDS_PER_YEAR
