"""Turning projects and opportunities into the same numeric description.

A history row and a new opportunity are described by the same profile (categorical fields, free text, close
date), so the model that explains history outcomes can be applied to an opportunity unchanged. Free text
matters twice: its words (what is being built) and its numbers with their units ("240 servers", "350 TB"),
which carry the scope that drives a project's size.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from oppscope.analysis.dataset import History

# Fields an opportunity can state and the model may use. Customer and program are left out on purpose:
# the customer enters through its own residual effect (see estimate.py), the program is an outcome.
MODEL_BLOCKS: tuple[str, ...] = (
    "segment", "industry", "country", "region", "subregion", "partner", "activity", "project_type", "phase",
)

# Pairs whose joint effect may differ from the sum of their parts (AI/ML costs more in software firms than
# its type and industry alone say). Ridge keeps these small unless the history insists.
INTERACTIONS: tuple[tuple[str, str], ...] = (
    ("project_type", "segment"),
    ("project_type", "industry"),
    ("segment", "industry"),
)
MIN_INTERACTION_COUNT = 5
QUARTERS = 4

_STOPWORDS = frozenset(
    """a an and are as at be by for from has have in into is it its of on or our that the their this to was
    were will with we they them across per via new using use based build project projects customer""".split()
)
_TOKEN = re.compile(r"[a-z][a-z0-9]+")
# A number, optionally a currency sign before it, a multiplier and a unit after it: "240 servers", "500TB",
# "3.5k users", "$1.2M", "2 million records". A multiplier only counts when no letter follows it.
_SCOPE = re.compile(
    r"(?<![\w.])(\$|usd\s?|€|eur\s?)?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s?"
    r"(?:(k|m|mm|bn|b|thousand|million|billion)(?![a-z]))?\+?\s*(%)?[\s-]*([a-z][a-z-]*)?",
    re.IGNORECASE,
)
_MULTIPLIER = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}
BARE_UNIT = "_bare"  # a number with no word after it
MIN_UNIT_COUNT = 5
MONEY_UNIT = "usd"


def tokens(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS}


def _unit_key(word: str | None) -> str:
    if not word:
        return BARE_UNIT
    word = word.lower().strip("-")
    if word in ("usd", "eur", "dollars", "euros"):
        return MONEY_UNIT
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def scope_quantities(text: str) -> dict[str, float]:
    """Numbers with the word that follows them, e.g. {"server": 240.0, "tb": 350.0}; years are ignored."""
    found: dict[str, float] = {}
    for currency, number, mult, percent, unit in _SCOPE.findall(text):
        if percent:
            continue
        value = float(number.replace(",", "")) * _MULTIPLIER.get(mult.lower(), 1.0)
        if not (currency or mult) and "," not in number and "." not in number and 1990 <= value <= 2100:
            continue  # a year, not a quantity
        if value <= 0:
            continue
        key = MONEY_UNIT if currency else _unit_key(unit)
        found[key] = max(found.get(key, 0.0), value)
    return found


@dataclass(frozen=True)
class Profile:
    """What is known about one project or opportunity, in normalized form."""

    categorical: dict[str, str]  # block → normalized value, '' when unknown
    text: str  # name and description (what every input states)
    close_year: float
    business: str = ""  # the customer's business description, an optional field of its own

    @property
    def all_text(self) -> str:
        return f"{self.text} {self.business}" if self.business else self.text

    # Text is parsed once per profile, however many matrices are built from it.
    @cached_property
    def terms(self) -> frozenset[str]:
        """Every word stated, for similarity."""
        return self.main_terms | self.business_terms

    @cached_property
    def main_terms(self) -> frozenset[str]:
        return frozenset(tokens(self.text))

    @cached_property
    def business_terms(self) -> frozenset[str]:
        """Words only the business description has: a word also in the name or description (the customer's
        name, typically) keeps one column, so its effect is not counted, and penalised, twice."""
        return frozenset(tokens(self.business)) - self.main_terms if self.business else frozenset()

    @cached_property
    def scopes(self) -> dict[str, float]:
        return scope_quantities(self.text)

    @cached_property
    def business_scopes(self) -> dict[str, float]:
        return scope_quantities(self.business) if self.business else {}


def history_profiles(history: History) -> list[Profile]:
    years = history.close_years
    return [
        Profile(
            categorical={b: history.keys[b][i] for b in MODEL_BLOCKS},
            text=f"{history.opportunity_name[i]} {history.description[i]}",
            close_year=float(years[i]),
            business=str(history.business_description[i]),
        )
        for i in range(history.n)
    ]


def close_quarter(close_year: float) -> int:
    """0..3; close years count from 1 January, so the fraction of the year tells the quarter."""
    return min(int((close_year % 1.0) * QUARTERS), QUARTERS - 1)


def _pair_keys(profile: Profile) -> list[str]:
    c = profile.categorical
    return [f"{a}={c[a]}|{b}={c[b]}" for a, b in INTERACTIONS if c[a] and c[b]]


@dataclass
class FeatureSpace:
    """Column layout of the design matrix, learned from the history's profiles.

    Words and scope quantities of the business description get columns of their own, apart from those of
    the name and description: a pattern that does not state it then simply leaves those columns out.
    """

    levels: dict[str, dict[str, int]]  # block → level → column
    pairs: dict[str, int]  # "block_a=value|block_b=value" → column, for INTERACTIONS
    level_freq: dict[str, np.ndarray]  # block → share of each level (used when a value is unknown)
    vocab: dict[str, int]  # token → column of the name/description word; also the similarity vocabulary
    idf: np.ndarray  # per vocab token, for text similarity
    business_vocab: dict[str, int]  # token → column of the business-description word
    units: dict[str, tuple[int, int]]  # unit → (log-quantity column, presence column), name/description
    business_units: dict[str, tuple[int, int]]
    unit_range: dict[str, tuple[float, float]]  # unit → observed range of log(1 + quantity)
    year_column: int  # followed by four close-quarter columns (budget cycles move start dates)
    year_range: tuple[float, float]
    token_offset: int  # column of the first vocabulary token

    @property
    def n_columns(self) -> int:
        return self.year_column + 1 + QUARTERS

    @classmethod
    def fit(cls, profiles: Sequence[Profile], *, min_level_count: int = 2, max_vocab: int = 4000) -> FeatureSpace:
        n = len(profiles)
        col = 1  # column 0 is the intercept
        levels: dict[str, dict[str, int]] = {}
        level_freq: dict[str, np.ndarray] = {}
        for block in MODEL_BLOCKS:
            counts = Counter(p.categorical[block] for p in profiles if p.categorical[block])
            kept = sorted(v for v, c in counts.items() if c >= min_level_count)
            levels[block] = {v: col + i for i, v in enumerate(kept)}
            total = sum(counts[v] for v in kept)
            level_freq[block] = np.array([counts[v] / total for v in kept]) if total else np.zeros(0)
            col += len(kept)

        pair_counts: Counter[str] = Counter(k for p in profiles for k in _pair_keys(p))
        kept_pairs = sorted(k for k, c in pair_counts.items() if c >= MIN_INTERACTION_COUNT)
        pairs = {k: col + i for i, k in enumerate(kept_pairs)}
        col += len(pairs)

        doc_freq: Counter[str] = Counter()
        business_freq: Counter[str] = Counter()
        unit_values: dict[str, list[float]] = {}
        business_values: dict[str, list[float]] = {}
        for p in profiles:
            doc_freq.update(p.terms)
            business_freq.update(p.business_terms)
            for scopes, values in ((p.scopes, unit_values), (p.business_scopes, business_values)):
                for unit, qty in scopes.items():
                    values.setdefault(unit, []).append(math.log1p(qty))
        min_df = max(3, int(0.0005 * n))

        def frequent(freq: Counter[str]) -> list[tuple[str, int]]:
            kept = [(t, c) for t, c in freq.items() if min_df <= c <= 0.6 * n]
            kept.sort(key=lambda tc: (-tc[1], tc[0]))
            return kept[:max_vocab]

        token_offset = col
        candidates = frequent(doc_freq)
        vocab = {t: token_offset + i for i, (t, _) in enumerate(candidates)}
        idf = np.array([math.log((n + 1) / (c + 1)) + 1.0 for _, c in candidates])
        col += len(vocab)
        business_vocab = {t: col + i for i, (t, _) in enumerate(frequent(business_freq))}
        col += len(business_vocab)

        # Only units the history uses often enough get a coefficient; "30 Oracle databases" in a query whose
        # unit the history never saw says nothing about size, so it is left to the words around it.
        unit_cols: list[dict[str, tuple[int, int]]] = []
        for values in (unit_values, business_values):
            cols: dict[str, tuple[int, int]] = {}
            for unit in sorted(u for u, v in values.items() if len(v) >= MIN_UNIT_COUNT):
                cols[unit] = (col, col + 1)
                col += 2
            unit_cols.append(cols)
        unit_range = {u: (min(unit_values[u]), max(unit_values[u])) for u in unit_cols[0]}
        unit_range |= {f"business:{u}": (min(business_values[u]), max(business_values[u])) for u in unit_cols[1]}
        years = [p.close_year for p in profiles]
        return cls(
            levels=levels,
            pairs=pairs,
            level_freq=level_freq,
            vocab=vocab,
            idf=idf,
            business_vocab=business_vocab,
            units=unit_cols[0],
            business_units=unit_cols[1],
            unit_range=unit_range,
            year_column=col,
            year_range=(min(years, default=0.0), max(years, default=0.0)),
            token_offset=token_offset,
        )

    @cached_property
    def terms(self) -> list[str]:
        """Vocabulary tokens in TF-IDF column order."""
        return sorted(self.vocab, key=self.vocab.__getitem__)

    def pattern_columns(self, blocks: frozenset[str], business: bool) -> np.ndarray:
        """The columns a model may use when only ``blocks`` (and the business description if ``business``) are
        stated: the others are left out of its design, so their coefficients stay zero."""
        cols = [0, *(c for b in blocks for c in self.levels[b].values())]
        cols += [c for k, c in self.pairs.items() if all(part.split("=", 1)[0] in blocks for part in k.split("|"))]
        cols += list(self.vocab.values())
        cols += [c for pair in self.units.values() for c in pair]
        if business:
            cols += list(self.business_vocab.values())
            cols += [c for pair in self.business_units.values() for c in pair]
        cols += range(self.year_column, self.n_columns)
        return np.array(sorted(cols), dtype=np.int64)

    def _year(self, year: float) -> float:
        lo, hi = self.year_range
        # Trends are extrapolated at most one year past the data: beyond that a line is a guess.
        return float(np.clip(year, lo, hi + 1.0))

    def row_entries(self, profile: Profile) -> tuple[list[int], list[float]]:
        cols: list[int] = [0]
        vals: list[float] = [1.0]
        for block in MODEL_BLOCKS:
            block_levels = self.levels[block]
            column = block_levels.get(profile.categorical[block])
            if column is not None:
                cols.append(column)
                vals.append(1.0)
            elif block_levels:
                # Unknown or missing: expect the average effect rather than the baseline level's.
                cols.extend(block_levels.values())
                vals.extend(self.level_freq[block].tolist())
        for key in _pair_keys(profile):
            column = self.pairs.get(key)
            if column is not None:
                cols.append(column)
                vals.append(1.0)
        for terms, vocab in ((profile.main_terms, self.vocab), (profile.business_terms, self.business_vocab)):
            for t in terms:
                column = vocab.get(t)
                if column is not None:
                    cols.append(column)
                    vals.append(1.0)
        for scopes, units, prefix in (
            (profile.scopes, self.units, ""), (profile.business_scopes, self.business_units, "business:"),
        ):
            for unit, qty in scopes.items():
                pair = units.get(unit)
                if pair is not None:
                    # No extrapolation past the largest (or below the smallest) scope the history has seen.
                    lo, hi = self.unit_range[prefix + unit]
                    cols.extend(pair)
                    vals.extend((min(max(math.log1p(qty), lo), hi), 1.0))
        cols.extend((self.year_column, self.year_column + 1 + close_quarter(profile.close_year)))
        vals.extend((self._year(profile.close_year), 1.0))
        return cols, vals

    def matrix(self, profiles: Iterable[Profile]) -> sparse.csr_matrix:
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for p in profiles:
            c, v = self.row_entries(p)
            indices.extend(c)
            data.extend(v)
            indptr.append(len(indices))
        m = sparse.csr_matrix(
            (np.asarray(data), np.asarray(indices), np.asarray(indptr)), shape=(len(indptr) - 1, self.n_columns)
        )
        m.sum_duplicates()
        return m

    def tfidf(self, profiles: Iterable[Profile]) -> sparse.csr_matrix:
        """L2-normalized TF-IDF rows over the model vocabulary, for text similarity between projects."""
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for profile in profiles:
            cols = sorted(self.vocab[t] - self.token_offset for t in profile.terms if t in self.vocab)
            w = self.idf[cols] if cols else np.zeros(0)
            norm = float(np.sqrt((w * w).sum())) or 1.0
            indices.extend(cols)
            data.extend((w / norm).tolist())
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.asarray(data), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
            shape=(len(indptr) - 1, len(self.vocab)),
        )
