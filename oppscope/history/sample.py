"""The reproducible sample history: believable delivered partner projects whose noise the generator knows.

The app needs data on first run, and the backtests need ground truth: every row is drawn from an explicit
model (project type, segment, industry, country, scope, a latent customer size, time) plus log-normal noise
of known spread, and ``SampleHistory.truth`` keeps the noise-free medians and that spread per row. An
estimator that recovers them is learning the structure, not memorising the noise.

Everything is drawn from one ``numpy.random.Generator`` in a fixed order, vectorised per column, so the same
``(n_rows, seed)`` gives the same rows on every platform and 100,000 rows take a few seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from oppscope.history import schema
from oppscope.history.geo import COUNTRY_GEO, US_SUB_REGIONS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# The latent customer size u enters log ARR directly; a business description's employee count carries 2 u with
# this noise on its log. Public so that benchmarks/stated_oracle.py infers u with the generator's own spreads.
CUSTOMER_SIZE_SD: Final = 0.35
EMPLOYEE_COUNT_SD: Final = 0.5


@dataclass(frozen=True)
class SampleTruth:
    """The noise-free parameters behind one generated row (what a perfect estimator would recover)."""

    opportunity_id: str
    log_arr_median: float
    arr_sigma: float
    ttl_months_median: float
    duration_months_median: float


@dataclass(frozen=True)
class SampleHistory:
    rows: list[dict[str, Any]]
    truth: list[SampleTruth]


@dataclass(frozen=True)
class _Variant:
    """One kind of project within a type: its activity label, opportunity title and scope sentence."""

    activity: str
    title: str
    main: str


@dataclass(frozen=True)
class _ProjectType:
    name: str
    base_arr: float
    unit: str
    typical_scope: float
    scope_sigma: float
    ttl_base: float
    duration_base: float
    n_services: float
    upfront_chance: float
    services: tuple[tuple[str, float], ...]
    variants: tuple[_Variant, ...]
    details: tuple[str, ...]


@dataclass(frozen=True)
class _Industry:
    name: str
    arr_effect: float
    weight: float
    nouns: tuple[str, ...]
    activities: tuple[str, ...]


def _load_catalogue() -> dict[str, Any]:
    """The tables the generator draws from live in data, beside the funding rules; the code is the model."""
    data: dict[str, Any] = json.loads((files("oppscope") / "data" / "sample_catalogue.json").read_text("utf-8"))
    return data


def _strings(values: list[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


_CATALOGUE: Final = _load_catalogue()

PROJECT_TYPES: Final[tuple[_ProjectType, ...]] = tuple(
    _ProjectType(
        t["name"], t["base_arr"], t["unit"], t["typical_scope"], t["scope_sigma"], t["ttl_base"],
        t["duration_base"], t["n_services"], t["upfront_chance"],
        tuple((str(name), float(share)) for name, share in t["services"]),
        tuple(_Variant(v["activity"], v["title"], v["main"]) for v in t["variants"]),
        _strings(t["details"]),
    )
    for t in _CATALOGUE["project_types"]
)  # fmt: skip
_T = {t.name: i for i, t in enumerate(PROJECT_TYPES)}
_N_TYPES: Final = len(PROJECT_TYPES)

# Services bought with some money up front (reserved capacity, term subscriptions, device jobs, ports).
_UPFRONT_SERVICES: Final = frozenset(_CATALOGUE["upfront_services"])

_SEG: Final = _CATALOGUE["segments"]
SEGMENTS: Final = _strings(_SEG["names"])
_SEGMENT_SHARE: Final = tuple(_SEG["share"])
_SEGMENT_ARR: Final = np.array(_SEG["arr"])
_SEGMENT_SIGMA: Final = np.array(_SEG["sigma"])
_SEGMENT_TTL: Final = np.array(_SEG["ttl"])
# Bigger organisations also buy bigger scopes; this is on top of (and correlated with) the ARR effect.
_SEGMENT_SCOPE: Final = np.array(_SEG["scope"])
_SEGMENT_EMPLOYEES: Final = tuple(_SEG["employees"])
_SEGMENT_ADJECTIVES: Final = tuple(_strings(a) for a in _SEG["adjectives"])
# How segments bend the choice of project (rows: segments, columns: project types): startups build
# serverless and AI, enterprises run SAP.
_SEGMENT_TYPE_BIAS: Final = np.array(_SEG["type_bias"])

INDUSTRIES: Final[tuple[_Industry, ...]] = tuple(
    _Industry(i["name"], i["arr_effect"], i["weight"], _strings(i["nouns"]), _strings(i["activities"]))
    for i in _CATALOGUE["industries"]
)
_I = {ind.name: i for i, ind in enumerate(INDUSTRIES)}


def _industry_weights() -> npt.NDArray[np.float64]:
    """Industry shares per segment: the public sector and startups look nothing like the rest."""
    general = np.array([ind.weight for ind in INDUSTRIES])
    public = np.zeros(len(INDUSTRIES))
    for name, w in _CATALOGUE["public_sector_industry_weights"].items():
        public[_I[name]] = w
    startup = np.zeros(len(INDUSTRIES))
    for name, w in _CATALOGUE["startup_industry_weights"].items():
        startup[_I[name]] = w
    rows = np.stack([general, general, general, public, startup])
    return np.asarray(rows / rows.sum(axis=1, keepdims=True), dtype=np.float64)


_INTERACTIONS: Final[dict[tuple[str, str], float]] = {
    (str(t), str(i)): float(e) for t, i, e in _CATALOGUE["interactions"]
}

# (country, share of customers, price level on ln ARR, legal suffixes)
_COUNTRIES: Final[tuple[tuple[str, float, float, tuple[str, ...]], ...]] = tuple(
    (str(c), float(share), float(price), _strings(suffixes)) for c, share, price, suffixes in _CATALOGUE["countries"]
)

_PREFIXES: Final = _strings(_CATALOGUE["name_prefixes"])
_PREFIX_ADJECTIVES: Final = _strings(_CATALOGUE["name_prefix_adjectives"])
_PREFIX_NOUNS: Final = _strings(_CATALOGUE["name_prefix_nouns"])
_PLACES: Final = _strings(_CATALOGUE["places"])
_PLACE_QUALIFIERS: Final = _strings(_CATALOGUE["place_qualifiers"])
_INSTITUTIONS: Final[dict[str, tuple[str, ...]]] = {k: _strings(v) for k, v in _CATALOGUE["institutions"].items()}
_NAME_QUALIFIERS: Final = _strings(_CATALOGUE["name_qualifiers"])

# (partner, sales regions, project types it is known for, relative size)
_PARTNERS: Final[tuple[tuple[str, tuple[str, ...], tuple[str, ...], float], ...]] = tuple(
    (str(name), _strings(regions), _strings(types), float(size))
    for name, regions, types, size in _CATALOGUE["partners"]
)
_REGIONS: Final = _strings(_CATALOGUE["regions"])

_PHASES: Final[tuple[str | None, ...]] = tuple(_CATALOGUE["phases"])
_PHASE_PROBS: Final = np.array(_CATALOGUE["phase_probs"])
_PHASE_ARR: Final = np.array(_CATALOGUE["phase_arr"])
_PHASE_TTL: Final = np.array(_CATALOGUE["phase_ttl"])
# An assessment or a mobilize phase is short work whatever the estate's size.
_PHASE_DURATION: Final = np.array(_CATALOGUE["phase_duration"])

_START: Final = np.array(_CATALOGUE["first_type"])
# What a customer buys next, given what it bought last (rows: previous type, columns: next type).
_NEXT: Final = np.array(_CATALOGUE["next_type"])
# Market shifts by close year 2019..2025: generative AI from 2023, VMware exits after 2023, remote contact
# centers in 2020.
_YEAR_TYPE_BIAS: Final = np.ones((7, _N_TYPES))
for _name, _bias in _CATALOGUE["year_type_bias"].items():
    _YEAR_TYPE_BIAS[:, _T[_name]] = _bias

_PROJECTS_PER_CUSTOMER: Final = tuple(_CATALOGUE["projects_per_customer"])
_FIRST_DAY: Final = int(np.datetime64(_CATALOGUE["first_close_day"], "D").astype(np.int64))
_LAST_DAY: Final = int(np.datetime64(_CATALOGUE["last_close_day"], "D").astype(np.int64))
_YEARLY_GROWTH: Final = float(_CATALOGUE["yearly_growth"])  # later years hold more projects
_TREND_PER_YEAR: Final = float(_CATALOGUE["trend_per_year"])
_TREND_ORIGIN_YEAR: Final = float(_CATALOGUE["trend_origin_year"])
_SCOPE_ELASTICITY: Final = float(_CATALOGUE["scope_elasticity"])

_GTM: Final = _strings(_CATALOGUE["gtm"])
_GTM_PROBS: Final = np.array(_CATALOGUE["gtm_probs"])
_PROGRAMS: Final = _strings(_CATALOGUE["programs"])
_UNIFIED_PROGRAM: Final = _strings(_CATALOGUE["unified_programs"])
_MAP_ARR_THRESHOLD: Final = math.log(_CATALOGUE["map_arr_threshold_usd"])

_NOISE_SENTENCES: Final = _strings(_CATALOGUE["noise_sentences"])

_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SFDC_CHECKSUM: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SFDC_PODS: Final = _strings(_CATALOGUE["sfdc_pods"])  # by close year: newer records, newer pods


def _categorical(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """One draw per row from that row's (unnormalised) probabilities."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    picked = (u[:, None] >= cum).sum(axis=1)
    return np.asarray(np.minimum(picked, probs.shape[1] - 1), dtype=np.int64)


def _pick(u: float, options: tuple[str, ...]) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _round_scope(x: FloatArray) -> FloatArray:
    """Round scopes the way people state them: 7, 45, 240, 1,200, 190,000 (never below 2)."""
    x = np.maximum(x, 2.0)
    step = np.where(x >= 100, 10.0 ** (np.floor(np.log10(x)) - 1), 1.0)
    return np.asarray(np.maximum(np.round(x / step) * step, 2.0), dtype=np.float64)


def _sfdc_id(id15: str) -> str:
    """Salesforce's 18-character form: three checksum letters encode the case of the 15-character id."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if ch.isupper())
        suffix += _SFDC_CHECKSUM[bits]
    return id15 + suffix


@dataclass(frozen=True)
class _Customers:
    segment: IntArray
    industry: IntArray
    country: IntArray
    sub_region: list[str]
    u: FloatArray
    name: list[str]
    short_name: list[str]
    business: list[tuple[str, str]]
    account: list[str]
    partners: IntArray  # (customers, 2): the usual partner, and the one brought in for other specialties


@dataclass(frozen=True)
class _Draw:
    """Every drawn quantity per project, in output order; rows and truth are views of it."""

    customers: _Customers
    customer: IntArray
    project_type: IntArray
    phase: IntArray
    variant: list[_Variant]
    scope: FloatArray
    close_day: IntArray
    start_day: IntArray
    end_day: IntArray
    log_arr_median: FloatArray
    arr_sigma: FloatArray
    log_arr: FloatArray  # ln of the realised ARR, which the services add up to exactly
    ttl_median: FloatArray
    duration_median: FloatArray
    services: list[list[str]]  # (projects, 10) in slot order, "" for an empty slot
    monthly_cents: IntArray  # (projects, 10)
    upfront_cents: IntArray  # (projects, 10)
    partner: IntArray
    gtm: IntArray
    program: IntArray


def _customer_names(
    rng: np.random.Generator, industry: IntArray, country: IntArray, segment: IntArray
) -> tuple[list[str], list[str]]:
    """Unique, plausible company and institution names, with the short form used in opportunity names."""
    n = len(industry)
    picks = rng.random((n, 5)).tolist()
    used: set[str] = set()
    names: list[str] = []
    shorts: list[str] = []
    for i in range(n):
        ind = INDUSTRIES[int(industry[i])]
        institutional = ind.name in _INSTITUTIONS and (
            segment[i] == SEGMENTS.index("Public Sector") or ind.name == "Public Sector"
        )
        suffixes = _COUNTRIES[int(country[i])][3]
        p = picks[i]
        for attempt in range(40):
            if attempt:
                p = rng.random(5).tolist()
            if institutional:
                if p[3] < 0.5:
                    town = _pick(p[1], _PLACES)
                else:
                    town = f"{_pick(p[1], _PREFIX_ADJECTIVES)}{_pick(p[4], _PREFIX_NOUNS).lower()}"
                place = _pick(p[0], _PLACE_QUALIFIERS) + town
                short = _pick(p[2], _INSTITUTIONS[ind.name]).format(p=place)
                name = short
            else:
                if p[0] < 0.5:
                    prefix = _pick(p[1], _PREFIXES)
                else:
                    prefix = f"{_pick(p[1], _PREFIX_ADJECTIVES)}{_pick(p[4], _PREFIX_NOUNS).lower()}"
                short = f"{prefix} {_pick(p[2], ind.nouns)}"
                name = f"{short} {_pick(p[3], suffixes)}"
            if name not in used:
                break
        else:
            qualifier = _NAME_QUALIFIERS[i % len(_NAME_QUALIFIERS)]
            short, name = f"{short} {qualifier}", f"{name} {qualifier} {i}"
        used.add(name)
        names.append(name)
        shorts.append(short)
    return names, shorts


def _business_descriptions(
    rng: np.random.Generator, c_names: list[str], segment: IntArray, industry: IntArray, country: IntArray,
    u: FloatArray,
) -> list[tuple[str, str]]:  # fmt: skip
    """Two phrasings of the same facts per customer, so descriptions vary lightly between its projects."""
    n = len(c_names)
    picks = rng.random((n, 2)).tolist()
    size_noise = rng.normal(0.0, EMPLOYEE_COUNT_SD, n)
    employees = np.array(_SEGMENT_EMPLOYEES)[segment] * np.exp(2.0 * u + size_noise)
    rounded = _round_scope(employees).astype(np.int64).tolist()
    out: list[tuple[str, str]] = []
    for i in range(n):
        ind = INDUSTRIES[int(industry[i])]
        adjective = _pick(picks[i][0], _SEGMENT_ADJECTIVES[int(segment[i])])
        activity = _pick(picks[i][1], ind.activities)
        where = _COUNTRIES[int(country[i])][0]
        if where.startswith("United") or where == "Netherlands":
            where = "the " + where
        sector = ind.name.lower().replace("&", "and").replace("public sector", "public-sector")
        article = "an" if adjective[0] in "aeiou" else "a"
        first = f"{c_names[i]} is {article} {adjective} {sector} organisation in {where} that {activity}."
        second = f"{c_names[i]} {activity} in {where} with about {rounded[i]:,} employees."
        out.append((first, second))
    return out


def _draw_customers(rng: np.random.Generator, n: int) -> _Customers:
    segment = rng.choice(len(SEGMENTS), size=n, p=np.array(_SEGMENT_SHARE)).astype(np.int64)
    industry = _categorical(rng, _industry_weights()[segment])
    weights = np.array([c[1] for c in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), size=n, p=weights / weights.sum()).astype(np.int64)
    u = rng.normal(0.0, CUSTOMER_SIZE_SD, n)
    us_split = np.array([w for _, w in US_SUB_REGIONS])
    us_pick = rng.choice(len(US_SUB_REGIONS), size=n, p=us_split / us_split.sum()).tolist()
    sub_region = [
        US_SUB_REGIONS[us_pick[i]][0] if _COUNTRIES[c][0] == "United States" else COUNTRY_GEO[_COUNTRIES[c][0]][1]
        for i, c in enumerate(country.tolist())
    ]
    names, shorts = _customer_names(rng, industry, country, segment)
    business = _business_descriptions(rng, names, segment, industry, country, u)
    account = [f"{a:012d}" for a in rng.integers(0, 10**12, n).tolist()]

    region_of_country = np.array([_REGIONS.index(COUNTRY_GEO[c[0]][0]) for c in _COUNTRIES])
    serves = np.array([[r in p[1] for r in _REGIONS] for p in _PARTNERS])  # (partners, regions)
    size = np.array([p[3] for p in _PARTNERS])
    eligible = (serves[:, region_of_country[country]].T * size).astype(np.float64)  # (customers, partners)
    primary = _categorical(rng, eligible)
    eligible[np.arange(n), primary] = 0.0
    secondary = _categorical(rng, eligible)
    return _Customers(
        segment, industry, country, sub_region, u, names, shorts, business, account,
        np.stack([primary, secondary], axis=1),
    )  # fmt: skip


def _draw_sequences(rng: np.random.Generator, n_rows: int) -> tuple[IntArray, IntArray]:
    """Projects per customer and their close days, adding up to exactly n_rows.

    Customers arrive ever faster (the partner business grows), intend one to seven projects 4-18 months
    apart, and only the projects closed by the end of the window are history: recent customers have had
    fewer projects so far, as in a real export.
    """
    p = np.array(_PROJECTS_PER_CUSTOMER)
    intended = rng.choice(len(p), size=n_rows, p=p / p.sum()) + 1  # every customer has a row: enough
    g = math.log1p(_YEARLY_GROWTH) / 365.25
    first = _FIRST_DAY + np.log1p(rng.random(n_rows) * np.expm1(g * (_LAST_DAY - _FIRST_DAY))) / g
    gaps = rng.uniform(4.0, 18.0, (n_rows, len(p) - 1)) * schema.DAYS_PER_MONTH
    days = np.floor(first[:, None] + np.concatenate([np.zeros((n_rows, 1)), np.cumsum(gaps, axis=1)], axis=1))
    counts = np.minimum(intended, (days <= _LAST_DAY).sum(axis=1))
    total = np.cumsum(counts)
    last = int(np.searchsorted(total, n_rows))
    counts = counts[: last + 1].copy()
    counts[-1] -= int(total[last]) - n_rows
    keep = np.arange(days.shape[1])[None, :] < counts[:, None]
    return counts.astype(np.int64), days[: last + 1][keep].astype(np.int64)


_SERVICE_NAMES: Final[tuple[str, ...]] = tuple(dict.fromkeys(name for t in PROJECT_TYPES for name, _ in t.services))
_MAX_SERVICES: Final = 10
_POOL_SIZE: Final = max(len(t.services) for t in PROJECT_TYPES)
_POOL_INDEX: Final = np.array(
    [[_SERVICE_NAMES.index(s) for s, _ in t.services] + [0] * (_POOL_SIZE - len(t.services)) for t in PROJECT_TYPES]
)
_POOL_SHARE: Final = np.array(
    [[w for _, w in t.services] + [0.0] * (_POOL_SIZE - len(t.services)) for t in PROJECT_TYPES]
)
_UPFRONT_ELIGIBLE: Final = np.array([s in _UPFRONT_SERVICES for s in _SERVICE_NAMES])
_PARTNER_SPECIALTY: Final = np.array([[t.name in p[2] for t in PROJECT_TYPES] for p in _PARTNERS])
# How tightly a project's cost split follows its type's typical shares (Dirichlet concentration).
_SHARE_CONCENTRATION: Final = 25.0
_ESTATE: Final = {"Storage & Backup": "{q} TB of data", "SAP on AWS": "an SAP landscape with {q} users"}


def _draw_types(
    rng: np.random.Generator, segment: IntArray, step: IntArray, year_index: IntArray
) -> tuple[IntArray, IntArray]:
    """Project type and migration phase, step by step along each customer's sequence of projects.

    A MAP assessment is usually followed by the same workload's mobilize phase, and mobilize by the
    migration itself, which is what makes follow-on projects predictable from the last one.
    """
    n = len(step)
    types = np.zeros(n, dtype=np.int64)
    phases = np.full(n, len(_PHASES) - 1, dtype=np.int64)
    bias = _SEGMENT_TYPE_BIAS[segment] * _YEAR_TYPE_BIAS[year_index]
    for k in range(int(step.max()) + 1):
        rows = np.flatnonzero(step == k)
        transition = _START[None, :] if k == 0 else _NEXT[types[rows - 1]]
        types[rows] = _categorical(rng, transition * bias[rows])
        phases[rows] = _categorical(rng, _PHASE_PROBS[types[rows]])
        if k:
            prev_type, prev_phase = types[rows - 1], phases[rows - 1]
            follow = (prev_phase <= 1) & (rng.random(len(rows)) < 0.6)
            types[rows] = np.where(follow, prev_type, types[rows])
            phases[rows] = np.where(follow, prev_phase + 1, phases[rows])
    return types, phases


def _draw_services(
    rng: np.random.Generator, types: IntArray, scope_ratio: FloatArray, segment: IntArray, arr_cents: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Services with monthly and upfront cents that add up to the drawn ARR exactly.

    Returns service indices, monthly cents and upfront cents, all (projects, 10) ordered by monthly cost,
    and the realised ARR in cents (the draw moved by at most 6 cents so that 12 x monthly + upfront is exact).
    """
    n = len(types)
    shares = _POOL_SHARE[types]
    size = (shares > 0).sum(axis=1)
    n_services = np.array([t.n_services for t in PROJECT_TYPES])[types] + 0.8 * scope_ratio
    k = np.clip(np.rint(n_services + rng.normal(0.0, 1.2, n)), 3, np.minimum(_MAX_SERVICES, size))
    # Gumbel top-k: k services without replacement, the type's big services most likely.
    keys = np.where(shares > 0, np.log(np.maximum(shares, 1e-12)), -np.inf) + rng.gumbel(size=shares.shape)
    selected = np.argsort(np.argsort(-keys, axis=1), axis=1) < k[:, None]
    weight = np.where(selected, rng.gamma(_SHARE_CONCENTRATION * shares) + 1e-4, 0.0)
    weight /= weight.sum(axis=1, keepdims=True)
    order = np.argsort(-weight, axis=1, kind="stable")[:, :_MAX_SERVICES]
    weight = np.take_along_axis(weight, order, axis=1)
    service = np.take_along_axis(_POOL_INDEX[types], order, axis=1)

    eligible = _UPFRONT_ELIGIBLE[service] & (weight > 0)
    segment_bias = np.array([1.3, 1.0, 0.6, 1.0, 0.6])[segment]
    chance = np.array([t.upfront_chance for t in PROJECT_TYPES])[types] * segment_bias
    has_upfront = (rng.random(n) < chance) & eligible.any(axis=1)
    upfront_share = rng.uniform(0.02, 0.20, n)
    upfront_target = np.where(has_upfront, np.rint(upfront_share * arr_cents), 0).astype(np.int64)
    mrr = np.where(has_upfront, (arr_cents - upfront_target) // 12, np.rint(arr_cents / 12)).astype(np.int64)
    upfront_total = np.where(has_upfront, arr_cents - 12 * mrr, 0)

    monthly = np.floor(mrr[:, None] * weight).astype(np.int64)
    monthly[:, 0] += mrr - monthly.sum(axis=1)
    upfront_weight = weight * eligible * rng.uniform(0.5, 1.5, weight.shape)
    total = upfront_weight.sum(axis=1, keepdims=True)
    upfront_weight = upfront_weight / np.where(total > 0, total, 1.0)
    upfront = np.floor(upfront_total[:, None] * upfront_weight).astype(np.int64)
    upfront[np.arange(n), np.argmax(upfront_weight, axis=1)] += upfront_total - upfront.sum(axis=1)
    service = np.where(weight > 0, service, -1)
    return service, monthly, upfront, 12 * mrr + upfront_total


def _draw(rng: np.random.Generator, n_rows: int) -> _Draw:
    """All quantities of the sample, in the order rows are emitted (by close date)."""
    counts, close_day = _draw_sequences(rng, n_rows)
    cust = _draw_customers(rng, len(counts))
    customer = np.repeat(np.arange(len(counts)), counts)
    step = np.arange(n_rows) - (np.cumsum(counts) - counts)[customer]
    year = 1970.0 + close_day / 365.2425
    year_index = np.clip(np.floor(year).astype(np.int64) - 2019, 0, _YEAR_TYPE_BIAS.shape[0] - 1)
    segment, industry, country, u = (
        cust.segment[customer], cust.industry[customer], cust.country[customer], cust.u[customer],
    )  # fmt: skip
    types, phases = _draw_types(rng, segment, step, year_index)

    typical = np.array([t.typical_scope for t in PROJECT_TYPES])[types]
    spread = np.array([t.scope_sigma for t in PROJECT_TYPES])[types]
    scope = _round_scope(typical * np.exp(_SEGMENT_SCOPE[segment] + 0.5 * u + rng.normal(0.0, spread)))
    ratio = np.log(scope / typical)

    interaction = np.zeros((_N_TYPES, len(INDUSTRIES)))
    for (type_name, industry_name), effect in _INTERACTIONS.items():
        interaction[_T[type_name], _I[industry_name]] = effect
    log_median = (
        np.log([t.base_arr for t in PROJECT_TYPES])[types]
        + _SEGMENT_ARR[segment]
        + np.array([ind.arr_effect for ind in INDUSTRIES])[industry]
        + np.array([c[2] for c in _COUNTRIES])[country]
        + _SCOPE_ELASTICITY * ratio
        + u
        + _PHASE_ARR[phases]
        + _TREND_PER_YEAR * (year - _TREND_ORIGIN_YEAR)
        + interaction[types, industry]
    )
    sigma = _SEGMENT_SIGMA[segment]
    drawn_cents = np.rint(np.exp(log_median + sigma * rng.normal(0.0, 1.0, n_rows)) * 100).astype(np.int64)
    service, monthly, upfront, arr_cents = _draw_services(rng, types, ratio, segment, drawn_cents)

    ttl_mu = (
        np.array([t.ttl_base for t in PROJECT_TYPES])[types] + _SEGMENT_TTL[segment] + _PHASE_TTL[phases] + 0.3 * ratio
    )
    ttl = np.maximum(ttl_mu + rng.normal(0.0, 0.8, n_rows), 0.2)
    duration_base = np.array([t.duration_base for t in PROJECT_TYPES])[types]
    duration_mu = duration_base + 1.5 * ratio + _PHASE_DURATION[phases]
    duration = np.maximum(duration_mu + rng.normal(0.0, 1.0, n_rows) * (0.5 + 0.1 * duration_base), 1.0)
    start_day = close_day + np.rint(ttl * schema.DAYS_PER_MONTH).astype(np.int64)
    end_day = start_day + np.rint(duration * schema.DAYS_PER_MONTH).astype(np.int64)

    variant_pick = rng.random(n_rows).tolist()
    variants = [
        PROJECT_TYPES[t].variants[min(int(p * len(PROJECT_TYPES[t].variants)), len(PROJECT_TYPES[t].variants) - 1)]
        for t, p in zip(types.tolist(), variant_pick, strict=True)
    ]
    primary, secondary = cust.partners[customer, 0], cust.partners[customer, 1]
    needs_specialist = ~_PARTNER_SPECIALTY[primary, types] & _PARTNER_SPECIALTY[secondary, types]
    second = (needs_specialist & (rng.random(n_rows) < 0.6)) | (rng.random(n_rows) < 0.05)
    partner = np.where(second, secondary, primary)
    gtm = _categorical(rng, _GTM_PROBS[segment])

    log_arr = np.log(arr_cents / 100.0)
    migration = phases < len(_PHASES) - 1
    isv = (industry == _I["Software & Internet"]) & (rng.random(n_rows) < 0.6)
    unfunded = rng.random(n_rows) < 0.1
    large = log_arr + rng.normal(0.0, 0.3, n_rows) >= _MAP_ARR_THRESHOLD
    poa = rng.random(n_rows) < np.array([0.35, 0.45, 0.2])[gtm]
    program = np.where(
        migration,
        np.where(isv, 2, np.where(unfunded, 4, np.where(large, 0, 1))),
        np.where(poa, 3, 4),
    )

    o = np.lexsort((np.arange(n_rows), close_day))
    names = [[_SERVICE_NAMES[s] if s >= 0 else "" for s in row] for row in service[o].tolist()]
    return _Draw(
        customers=cust, customer=customer[o], project_type=types[o], phase=phases[o],
        variant=[variants[i] for i in o.tolist()], scope=scope[o], close_day=close_day[o],
        start_day=start_day[o], end_day=end_day[o], log_arr_median=log_median[o], arr_sigma=sigma[o],
        log_arr=log_arr[o], ttl_median=np.maximum(ttl_mu, 0.2)[o], duration_median=np.maximum(duration_mu, 1.0)[o],
        services=names, monthly_cents=monthly[o], upfront_cents=upfront[o], partner=partner[o], gtm=gtm[o],
        program=program[o],
    )  # fmt: skip


def _opportunity_ids(rng: np.random.Generator, close_day: IntArray) -> list[str]:
    """Unique 18-character Salesforce opportunity ids, on the record pod of their year."""
    year_index = np.clip(close_day // 365 - 49, 0, len(_SFDC_PODS) - 1).tolist()
    chars = rng.integers(0, len(_BASE62), (len(close_day), 5)).tolist()
    seen: set[str] = set()
    out: list[str] = []
    for pod, tail in zip(year_index, chars, strict=True):
        body = "006" + _SFDC_PODS[pod] + "00000" + "".join(_BASE62[c] for c in tail)
        while body in seen:
            body = body[:10] + "".join(_BASE62[c] for c in rng.integers(0, len(_BASE62), 5).tolist())
        seen.add(body)
        out.append(_sfdc_id(body))
    return out


def _description(d: _Draw, i: int, detail_pick: float, noise_pick: float) -> str:
    t = PROJECT_TYPES[int(d.project_type[i])]
    q = f"{int(d.scope[i]):,}"
    phase = _PHASES[int(d.phase[i])]
    estate = _ESTATE.get(t.name, "{q} " + t.unit).format(q=q)
    if phase == "Assess":
        parts = [f"Migration readiness assessment and business case for {estate}, using Migration Evaluator."]
    elif phase == "Mobilize":
        parts = [f"Mobilize phase for {estate}: landing zone, pilot wave and detailed migration plan."]
    else:
        parts = [d.variant[i].main.format(q=q)]
    if detail_pick < 0.7:
        parts.append(_pick(detail_pick / 0.7, t.details))
    if noise_pick < 0.45:
        parts.append(_pick(noise_pick / 0.45, _NOISE_SENTENCES))
    return " ".join(parts)


def _assemble(d: _Draw, rng: np.random.Generator) -> SampleHistory:
    n = len(d.customer)
    c = d.customers
    ids = _opportunity_ids(rng, d.close_day)
    apn = (1_000_000 + np.cumsum(rng.integers(1, max(2, min(10_000, 17_000_000 // max(n, 1))), n))).tolist()
    spms = rng.integers(100_000, 1_000_000, n).tolist()
    hexes = rng.bytes(20 * n).hex()
    new_account = (rng.random(n) < 0.55).tolist()
    project_accounts = [f"{a:012d}" for a in rng.integers(0, 10**12, n).tolist()]
    arr = (12 * d.monthly_cents.sum(axis=1) + d.upfront_cents.sum(axis=1)) / 100.0
    stated = np.round(arr * np.clip(rng.normal(1.0, 0.05, n), 0.85, 1.15)).tolist()
    stated_missing = (rng.random(n) < 0.05).tolist()
    picks = rng.random((n, 3)).tolist()
    dates = np.datetime_as_string(np.concatenate([d.start_day, d.end_day]).astype("datetime64[D]")).tolist()
    close_ts = (d.close_day * 86_400).tolist()

    customer, types, phases = d.customer.tolist(), d.project_type.tolist(), d.phase.tolist()
    partner, gtm, program = d.partner.tolist(), d.gtm.tolist(), d.program.tolist()
    monthly, upfront = d.monthly_cents.tolist(), d.upfront_cents.tolist()
    rows: list[dict[str, Any]] = []
    truth: list[SampleTruth] = []
    for i in range(n):
        k = customer[i]
        t = PROJECT_TYPES[types[i]]
        phase = _PHASES[phases[i]]
        country = _COUNTRIES[int(c.country[k])][0]
        title = d.variant[i].title if phase not in ("Assess", "Mobilize") else f"{d.variant[i].title} - {phase}"
        calculator = hexes[40 * i : 40 * i + 40]
        row: dict[str, Any] = {
            "activity_name": d.variant[i].activity,
            "project_type": t.name,
            "cor_gtm_apn_sfdc": _GTM[gtm[i]],
            "program": _PROGRAMS[program[i]],
            "unified program mapping": _UNIFIED_PROGRAM[program[i]],
            "customer_name": c.name[k],
            "aws account id": c.account[k],
            "annual_run_rate_usd": None if stated_missing[i] else stated[i],
            "aws_account_id_for_this_project": project_accounts[i] if new_account[i] else c.account[k],
            "opportunity_18_character_oppty_id": ids[i],
            "apn_oppty_id": f"O{apn[i]}",
            "customer_segment": SEGMENTS[int(c.segment[k])],
            "industry": INDUSTRIES[int(c.industry[k])].name,
            "close_date": close_ts[i],
            "planned_delivery_start_date": dates[i],
            "planned_delivery_end_date": dates[n + i],
            "migration_phase": phase,
            "opportunity_region": COUNTRY_GEO[country][0],
            "oppertunity-sub-region": c.sub_region[k],
            "country": country,
            "opportunity_name": f"{c.short_name[k]} - {title}",
            "description": _description(d, i, picks[i][0], picks[i][1]),
            "business_description": c.business[k][0 if picks[i][2] < 0.7 else 1],
            "partner_name": _PARTNERS[partner[i]][0],
            "spms_id": None if _PROGRAMS[program[i]] == "None" else str(spms[i]),
            "apfp_aws_calculator_url": f"https://calculator.aws/#/estimate?id={calculator}",
            "calculator_uid": calculator,
        }
        names = d.services[i]
        for j, slot in enumerate(schema.SERVICE_SLOTS):
            present = bool(names[j])
            label = schema.OTHER_SERVICES if present and slot == "servicex" else names[j]
            row[slot] = label if present else None
            row[schema.monthly_column(slot)] = monthly[i][j] / 100 if present else None
            row[schema.upfront_column(slot)] = upfront[i][j] / 100 if present else None
        rows.append(row)
        truth.append(
            SampleTruth(
                ids[i],
                float(d.log_arr_median[i]),
                float(d.arr_sigma[i]),
                float(d.ttl_median[i]),
                float(d.duration_median[i]),
            )
        )
    return SampleHistory(rows=rows, truth=truth)


_OPTIONAL_FIELDS: Final = {
    "industry": "industry",
    "customer_segment": "customer_segment",
    "partner_name": "partner_name",
    "activity_focus": "activity_name",
    "business_description": "business_description",
    "migration_phase": "migration_phase",
}


def row_as_request(row: dict[str, Any], *, optional_fields: bool = True) -> dict[str, Any]:
    """A history row as the opportunity JSON a seller would have sent for it, to replay a history as requests.

    Without ``optional_fields`` only what the form requires (and the description) is sent.
    """
    body: dict[str, Any] = {
        "id": row["opportunity_18_character_oppty_id"],
        "customer_name": row["customer_name"],
        "region": row["country"],
        "close_date": datetime.fromtimestamp(row["close_date"], tz=UTC).date().isoformat(),
        "opportunity_name": row["opportunity_name"],
        "description": row["description"] or "",
    }
    if optional_fields:
        body |= {field: row[column] for field, column in _OPTIONAL_FIELDS.items()}
    return body


def generate_sample(n_rows: int = 5000, seed: int = 20240601) -> SampleHistory:
    """The sample history for ``(n_rows, seed)``; identical for identical arguments."""
    return generate_with_draw(n_rows, seed)[0]


def generate_with_draw(n_rows: int = 5000, seed: int = 20240601) -> tuple[SampleHistory, _Draw]:
    """The sample and every quantity drawn for it, hidden ones included (for oracles that know the generator)."""
    if n_rows < 1:
        raise ValueError("n_rows must be at least 1")
    rng = np.random.default_rng(seed)
    draw = _draw(rng, n_rows)
    return _assemble(draw, rng), draw
