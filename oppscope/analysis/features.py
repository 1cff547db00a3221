"""Turning projects and opportunities into the same numeric description.

A history row and a new opportunity are described by the same profile (categorical fields, free text, close
date), so the model that explains history outcomes can be applied to an opportunity unchanged. Free text
matters twice: its words (what is being built) and its numbers with their units ("240 servers", "350 TB"),
which carry the scope that drives a project's size.

Everything here works on many profiles at once (:class:`Profiles`, columns rather than objects): a million
history rows are read in a few passes over joined text and numpy arrays, never one Python object per row.
An opportunity is a batch of one through the same code, so the history and a query cannot be described
differently.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import overload

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
# A word is an ASCII letter followed by letters or digits ("s3", "ec2"), read from the lower-cased text: the
# runs of ASCII letters and digits with their leading digits dropped ("24x7" gives "x7"), at least two long.
_SEPARATOR = "\x01"  # between texts joined for one pass; a separator inside a text is a space for words
_SEPARATOR_BYTE = _SEPARATOR.encode()
_ALNUM = b"abcdefghijklmnopqrstuvwxyz0123456789"
_WORD_BYTES = bytes(c if c in _ALNUM + _SEPARATOR_BYTE else ord(" ") for c in range(256))  # bytes.translate
_DIGITS = b"0123456789"
# A number, optionally a currency sign before it, a multiplier and a unit after it: "240 servers", "500TB",
# "3.5k users", "$1.2M", "2 million records". A multiplier only counts when no letter follows it.
_SCOPE = (
    r"(?<![\w.])(\$|usd\s?|€|eur\s?)?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s?"
    r"(?:(k|m|mm|bn|b|thousand|million|billion)(?![a-z]))?\+?\s*(%)?[\s-]*([a-z][a-z-]*)?"
)
# The same, or a separator between joined texts (never part of a quantity: not a word, a dot or a space).
_SCOPE_OR_SEPARATOR = re.compile(f"({_SEPARATOR})|{_SCOPE}", re.IGNORECASE)
_MULTIPLIER = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}
BARE_UNIT = "_bare"  # a number with no word after it
MIN_UNIT_COUNT = 5
# Size rarely grows as one power of the scope (a base cost per project plus dollars per server is flat for small
# counts and proportional for large ones), so a unit's log-quantity also gets hinges at evenly spaced quantiles of
# the history's stated values: ridge fits a piecewise-linear curve, and keeps it a line where the history is one.
# One knot per MIN_CURVE_COUNT stated values (fewer and the hinges fit noise), at most MAX_KNOTS.
MIN_CURVE_COUNT = 300
MAX_KNOTS = 7
MONEY_UNIT = "usd"
CHUNK = 65_536  # texts joined per pass: bounds the temporary lists of words and matches


def _joined(texts: Sequence[str], stand_in: str) -> str:
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) > max(len(texts) - 1, 0):
        joined = _SEPARATOR.join(t.replace(_SEPARATOR, stand_in) for t in texts)
    return joined


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and the position of each value among them, by sorting (numpy 2's ``np.unique``
    hashes, which was 30x slower on these integer arrays)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(len(values), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


class _Texts(Sequence[str]):
    """Texts made when read, a slice at a time: each row's ``parts`` joined by a space, and ``then``'s rows after
    these. The history's name-and-description texts are read a chunk at a time (words, scopes), so their joined
    copies never exist for all rows at once (at a million rows they would hold hundreds of megabytes)."""

    def __init__(self, parts: Sequence[Sequence[str] | np.ndarray], then: Sequence[str] = ()) -> None:
        self._parts, self._then = parts, then
        self._n = len(parts[0])

    def __len__(self) -> int:
        return self._n + len(self._then)

    @overload
    def __getitem__(self, key: int) -> str: ...
    @overload
    def __getitem__(self, key: slice) -> list[str]: ...
    def __getitem__(self, key: int | slice) -> str | list[str]:
        if isinstance(key, int):
            i = range(len(self))[key]
            return self[i : i + 1][0]
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError("texts are read in contiguous slices")
        own = [" ".join(row) for row in zip(*(p[start : min(stop, self._n)] for p in self._parts), strict=True)]
        return own + list(self._then[max(start - self._n, 0) : max(stop - self._n, 0)])


def _runs(texts: Sequence[str]) -> list[bytes]:
    """The letter-and-digit runs of the texts in order, ``_SEPARATOR_BYTE`` between one text's and the next's."""
    lowered = _joined(texts, " ").lower().encode("utf-8", "replace")
    return lowered.translate(_WORD_BYTES).replace(_SEPARATOR_BYTE, b" \x01 ").split()


def _word(run: bytes) -> str | None:
    word = run.lstrip(_DIGITS)
    if len(word) < 2:
        return None
    text = word.decode("ascii")
    return None if text in _STOPWORDS else text


def tokens(text: str) -> set[str]:
    return {w for run in _runs([text]) if (w := _word(run)) is not None}


@dataclass(frozen=True)
class WordSets:
    """Which words each text has: distinct (text, word) pairs in text order, then word order."""

    rows: np.ndarray  # int32: a million texts hold tens of millions of pairs
    words: np.ndarray  # int32 positions in the word table they were read with

    def code(self, width: int) -> np.ndarray:
        """One sorted integer per pair (``width`` at least the table's length), for set operations."""
        code: np.ndarray = self.rows.astype(np.int64) * width + self.words
        return code

    @classmethod
    def of_code(cls, code: np.ndarray, width: int) -> WordSets:
        return cls((code // width).astype(np.int32), (code % width).astype(np.int32))


def word_sets(texts: Sequence[str]) -> tuple[WordSets, list[str]]:
    """Words per text for many texts (the same words as :func:`tokens` gives for each one) and the word table."""
    run_ids: dict[bytes, int] = {_SEPARATOR_BYTE: -1}
    run_word: list[int] = []  # run id → word position, -1 for no word
    words: dict[str, int] = {}
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for start in range(0, len(texts), CHUNK):
        runs = _runs(texts[start : start + CHUNK])
        for run in sorted(set(runs).difference(run_ids)):  # each distinct run is read once, in a Python loop
            run_ids[run] = len(run_word)
            word = _word(run)
            run_word.append(-1 if word is None else words.setdefault(word, len(words)))
        ids = np.fromiter(map(run_ids.__getitem__, runs), dtype=np.int64, count=len(runs))
        separator = ids < 0
        column = np.asarray(run_word, dtype=np.int64)[np.where(separator, 0, ids)] if run_word else ids
        keep = ~separator & (column >= 0)
        width = max(len(words), 1)
        pairs, _ = distinct(np.cumsum(separator)[keep] * width + column[keep])
        rows.append((start + pairs // width).astype(np.int32))
        cols.append((pairs % width).astype(np.int32))
    empty = np.zeros(0, dtype=np.int32)
    return WordSets(np.concatenate([empty, *rows]), np.concatenate([empty, *cols])), list(words)


def _unit_key(word: str | None) -> str:
    if not word:
        return BARE_UNIT
    word = word.lower().strip("-")
    if word in ("usd", "eur", "dollars", "euros"):
        return MONEY_UNIT
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _quantity(currency: str, number: str, mult: str, percent: str, unit: str) -> tuple[str, float] | None:
    """The unit and value one quantity match states; None for percentages, years and zeros."""
    if percent:
        return None
    value = float(number.replace(",", "")) * _MULTIPLIER.get(mult.lower(), 1.0)
    if not (currency or mult) and "," not in number and "." not in number and 1990 <= value <= 2100:
        return None  # a year, not a quantity
    if value <= 0:
        return None
    return (MONEY_UNIT if currency else _unit_key(unit)), value


@dataclass(frozen=True)
class Scopes:
    """Per text, the largest quantity it states of each unit, as (row, unit, quantity) triples."""

    rows: np.ndarray
    unit: np.ndarray  # index into ``units``
    quantity: np.ndarray
    units: list[str]


def scopes_of(texts: Sequence[str]) -> Scopes:
    """Numbers with the word that follows them, for many texts in one regular-expression pass per chunk."""
    units: dict[str, int] = {}
    seen: dict[tuple[str, ...], tuple[int, float] | None] = {}
    rows: list[int] = []
    unit_ids: list[int] = []
    values: list[float] = []
    for start in range(0, len(texts), CHUNK):
        row = start
        found: dict[int, float] = {}  # unit → largest quantity, in the current text
        for separator, *parts in _SCOPE_OR_SEPARATOR.findall(_joined(texts[start : start + CHUNK], "\x02")):
            if separator:
                rows.extend([row] * len(found))
                unit_ids.extend(found)
                values.extend(found.values())
                row, found = row + 1, {}
                continue
            key = tuple(parts)
            if key not in seen:
                quantity = _quantity(*parts)
                seen[key] = None if quantity is None else (units.setdefault(quantity[0], len(units)), quantity[1])
            hit = seen[key]
            if hit is not None:
                found[hit[0]] = max(found.get(hit[0], 0.0), hit[1])
        rows.extend([row] * len(found))
        unit_ids.extend(found)
        values.extend(found.values())
    return Scopes(np.asarray(rows, dtype=np.int64), np.asarray(unit_ids, dtype=np.int64),
                  np.asarray(values, dtype=float), list(units))


def scope_quantities(text: str) -> dict[str, float]:
    """Numbers with the word that follows them, e.g. {"server": 240.0, "tb": 350.0}; years are ignored."""
    found = scopes_of([text])
    return {found.units[u]: float(q) for u, q in zip(found.unit.tolist(), found.quantity, strict=True)}


def _log1p(values: np.ndarray) -> np.ndarray:
    """``math.log1p`` per distinct value: numpy's differs in the last bit for some values, and the design must
    keep the bits the row-by-row build gave (so that fitted models, and the backtest, do not move)."""
    values_once, inverse = distinct(values)
    logs: np.ndarray = np.array([math.log1p(v) for v in values_once.tolist()], dtype=float)[inverse]
    return logs


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


def _factorize(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Codes into the distinct values, in order of first appearance."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(index)


@dataclass(frozen=True)
class Profiles:
    """Many profiles as columns, each derived column (words, scopes, codes) computed once for every use."""

    categorical: dict[str, Sequence[str]]  # block → normalized value per row ('' when unknown), MODEL_BLOCKS
    text: Sequence[str]
    business: Sequence[str]
    close_year: np.ndarray

    @classmethod
    def of(cls, profiles: Sequence[Profile]) -> Profiles:
        return cls(
            categorical={b: [p.categorical[b] for p in profiles] for b in MODEL_BLOCKS},
            text=[p.text for p in profiles],
            business=[p.business for p in profiles],
            close_year=np.array([p.close_year for p in profiles], dtype=float),
        )

    @property
    def n(self) -> int:
        return len(self.text)

    @cached_property
    def codes(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        return {b: _factorize(values) for b, values in self.categorical.items()}

    @cached_property
    def _read(self) -> tuple[WordSets, list[str]]:
        """Words of the name and description (rows below n) and of the business description (the next n), read
        with one table, so that a word of both is the same word."""
        text = self.text
        return word_sets(_Texts(text._parts, self.business) if isinstance(text, _Texts) else [*text, *self.business])

    @property
    def words(self) -> list[str]:
        """The word table of :attr:`main_terms`, :attr:`business_terms` and :attr:`terms`."""
        return self._read[1]

    @cached_property
    def _width(self) -> int:
        return max(len(self.words), 1)

    @cached_property
    def main_terms(self) -> WordSets:
        both = self._read[0]
        end = int(np.searchsorted(both.rows, self.n))
        return WordSets(both.rows[:end], both.words[:end])

    @cached_property
    def business_terms(self) -> WordSets:
        """Words only the business description has: a word also in the name or description (the customer's
        name, typically) keeps one column, so its effect is not counted, and penalised, twice."""
        both = self._read[0]
        start = int(np.searchsorted(both.rows, self.n))
        business = WordSets(both.rows[start:] - np.int32(self.n), both.words[start:]).code(self._width)
        main = self.main_terms.code(self._width)
        at = np.minimum(np.searchsorted(main, business), max(len(main) - 1, 0))
        shared = main[at] == business if len(main) else np.zeros(len(business), dtype=bool)
        return WordSets.of_code(business[~shared], self._width)

    @cached_property
    def terms(self) -> WordSets:
        """Every word stated, for similarity."""
        codes = np.concatenate([self.main_terms.code(self._width), self.business_terms.code(self._width)])
        return WordSets.of_code(np.sort(codes), self._width)

    @cached_property
    def scopes(self) -> Scopes:
        return scopes_of(self.text)

    @cached_property
    def business_scopes(self) -> Scopes:
        return scopes_of(self.business)

    def pair_codes(self, a: str, b: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Rows stating both blocks, a code per row into the distinct pairs, and each pair's key."""
        (ca, va), (cb, vb) = self.codes[a], self.codes[b]
        empty_a = va.index("") if "" in va else -1
        empty_b = vb.index("") if "" in vb else -1
        rows = np.flatnonzero((ca != empty_a) & (cb != empty_b))
        pairs, code = distinct(ca[rows] * max(len(vb), 1) + cb[rows])
        keys = [f"{a}={va[k // max(len(vb), 1)]}|{b}={vb[k % max(len(vb), 1)]}" for k in pairs.tolist()]
        return rows, code, keys


def history_profiles(history: History) -> Profiles:
    return Profiles(
        categorical={b: history.keys[b] for b in MODEL_BLOCKS},
        text=_Texts([history.opportunity_name, history.description]),
        business=[str(b) for b in history.business_description],
        close_year=history.close_years,
    )


def close_quarter(close_year: np.ndarray) -> np.ndarray:
    """0..3; close years count from 1 January, so the fraction of the year tells the quarter."""
    return np.minimum(((close_year % 1.0) * QUARTERS).astype(np.int64), QUARTERS - 1)


def _counts(values: Sequence[str]) -> Counter[str]:
    counts = Counter(values)
    counts.pop("", None)
    return counts


def _lookup(keys: Sequence[str], table: dict[str, int]) -> np.ndarray:
    """Each key's column in ``table``, -1 where it has none."""
    return np.array([table.get(k, -1) for k in keys], dtype=np.int64)


class _Entries:
    """(row, column, value) triples of a sparse matrix under construction, added an array at a time."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray | float) -> None:
        self.parts.append((rows, cols, np.full(len(rows), vals) if isinstance(vals, float) else vals))

    def matrix(self, shape: tuple[int, int]) -> sparse.csr_matrix:
        rows, cols, vals = (np.concatenate([p[i] for p in self.parts]) for i in range(3))
        return sparse.coo_matrix((vals, (rows, cols)), shape=shape).tocsr()  # sums duplicates, sorts indices


def _within(rows: np.ndarray, chunk: slice) -> slice:
    """The positions of an ascending row array that fall in the chunk's rows."""
    return slice(int(np.searchsorted(rows, chunk.start)), int(np.searchsorted(rows, chunk.stop)))


def _term_entries(entries: _Entries, sets: WordSets, columns: np.ndarray) -> None:
    """Words present in a row, at their column in the design (``columns`` per word, -1 for none)."""
    cols = columns[sets.words] if len(columns) else np.zeros(0, dtype=np.int64)
    keep = cols >= 0
    entries.add(sets.rows[keep], cols[keep], 1.0)


@dataclass(frozen=True)
class UnitColumns:
    """The design columns of one scope unit: its log-quantity, its presence, then one hinge per knot."""

    first: int
    low: float  # observed range of log(1 + quantity): no extrapolation past it
    high: float
    knots: tuple[float, ...]

    @property
    def columns(self) -> range:
        return range(self.first, self.first + 2 + len(self.knots))


def _unit_columns(scopes: Scopes, first: int) -> dict[str, UnitColumns]:
    """Columns from ``first`` on for every unit the texts state often enough, with its range and knots."""
    logs = _log1p(scopes.quantity)
    order = np.lexsort((logs, scopes.unit))
    units_sorted, logs_sorted = scopes.unit[order], logs[order]
    starts = np.searchsorted(units_sorted, np.arange(len(scopes.units) + 1))
    out: dict[str, UnitColumns] = {}
    position = {u: i for i, u in enumerate(scopes.units)}
    for unit in sorted(scopes.units):
        values = logs_sorted[starts[position[unit]] : starts[position[unit] + 1]]
        if len(values) < MIN_UNIT_COUNT:
            continue
        low, high = float(values[0]), float(values[-1])
        count = min(MAX_KNOTS, len(values) // MIN_CURVE_COUNT)
        picked = {float(values[(j * (len(values) - 1)) // (count + 1)]) for j in range(1, count + 1)}
        knots = tuple(sorted(k for k in picked if low < k < high))
        out[unit] = UnitColumns(first, low, high, knots)
        first += 2 + len(knots)
    return out


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
    units: dict[str, UnitColumns]  # scope units of the name and description
    business_units: dict[str, UnitColumns]
    year_column: int  # followed by four close-quarter columns (budget cycles move start dates)
    year_range: tuple[float, float]
    token_offset: int  # column of the first vocabulary token

    @property
    def n_columns(self) -> int:
        return self.year_column + 1 + QUARTERS

    @classmethod
    def fit(cls, profiles: Profiles, *, min_level_count: int = 2, max_vocab: int = 4000) -> FeatureSpace:
        n = profiles.n
        col = 1  # column 0 is the intercept
        levels: dict[str, dict[str, int]] = {}
        level_freq: dict[str, np.ndarray] = {}
        for block in MODEL_BLOCKS:
            counts = _counts(profiles.categorical[block])
            kept = sorted(v for v, c in counts.items() if c >= min_level_count)
            levels[block] = {v: col + i for i, v in enumerate(kept)}
            total = sum(counts[v] for v in kept)
            level_freq[block] = np.array([counts[v] / total for v in kept]) if total else np.zeros(0)
            col += len(kept)

        pair_counts: Counter[str] = Counter()
        for a, b in INTERACTIONS:
            _, code, keys = profiles.pair_codes(a, b)
            pair_counts.update(dict(zip(keys, np.bincount(code, minlength=len(keys)).tolist(), strict=True)))
        kept_pairs = sorted(k for k, c in pair_counts.items() if c >= MIN_INTERACTION_COUNT)
        pairs = {k: col + i for i, k in enumerate(kept_pairs)}
        col += len(pairs)

        min_df = max(3, int(0.0005 * n))

        def frequent(sets: WordSets) -> list[tuple[str, int]]:
            freq = np.bincount(sets.words, minlength=len(profiles.words)).tolist()
            kept = [(t, c) for t, c in zip(profiles.words, freq, strict=True) if min_df <= c <= 0.6 * n]
            kept.sort(key=lambda tc: (-tc[1], tc[0]))
            return kept[:max_vocab]

        token_offset = col
        candidates = frequent(profiles.terms)
        vocab = {t: token_offset + i for i, (t, _) in enumerate(candidates)}
        idf = np.array([math.log((n + 1) / (c + 1)) + 1.0 for _, c in candidates])
        col += len(vocab)
        business_vocab = {t: col + i for i, (t, _) in enumerate(frequent(profiles.business_terms))}
        col += len(business_vocab)

        # Only units the history uses often enough get a coefficient; "30 Oracle databases" in a query whose
        # unit the history never saw says nothing about size, so it is left to the words around it.
        units = _unit_columns(profiles.scopes, col)
        col = max((c.columns.stop for c in units.values()), default=col)
        business_units = _unit_columns(profiles.business_scopes, col)
        col = max((c.columns.stop for c in business_units.values()), default=col)
        years = profiles.close_year
        return cls(
            levels=levels,
            pairs=pairs,
            level_freq=level_freq,
            vocab=vocab,
            idf=idf,
            business_vocab=business_vocab,
            units=units,
            business_units=business_units,
            year_column=col,
            year_range=(float(years.min()), float(years.max())) if len(years) else (0.0, 0.0),
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
        cols += [c for unit in self.units.values() for c in unit.columns]
        if business:
            cols += list(self.business_vocab.values())
            cols += [c for unit in self.business_units.values() for c in unit.columns]
        cols += range(self.year_column, self.n_columns)
        return np.array(sorted(cols), dtype=np.int64)

    @staticmethod
    def _scope_entries(entries: _Entries, scopes: Scopes, units: dict[str, UnitColumns]) -> None:
        found = [units.get(u) for u in scopes.units]
        first = np.array([-1 if c is None else c.first for c in found], dtype=np.int64)
        low = np.array([0.0 if c is None else c.low for c in found])
        high = np.array([0.0 if c is None else c.high for c in found])
        width = max((len(c.knots) for c in found if c is not None), default=0)
        knots = np.full((len(found), width), np.inf)
        for i, c in enumerate(found):
            if c is not None:
                knots[i, : len(c.knots)] = c.knots
        keep = first[scopes.unit] >= 0 if len(first) else np.zeros(0, dtype=bool)
        rows, unit = scopes.rows[keep], scopes.unit[keep]
        # No extrapolation past the largest (or below the smallest) scope the history has seen.
        value = np.minimum(np.maximum(_log1p(scopes.quantity[keep]), low[unit]), high[unit])
        entries.add(rows, first[unit], value)
        entries.add(rows, first[unit] + 1, 1.0)
        for j in range(width):
            above = value > knots[unit, j]
            entries.add(rows[above], first[unit][above] + 2 + j, value[above] - knots[unit, j][above])

    def matrix(self, profiles: Profiles) -> sparse.csr_matrix:
        """Built CHUNK rows at a time: every row's (row, column, value) triples at once, with their conversion,
        took several times the finished matrix's memory."""
        n = profiles.n
        blocks = {b: _lookup(values, self.levels[b])[codes] for b, (codes, values) in profiles.codes.items()}
        pairs = []
        for a, b in INTERACTIONS:
            rows, code, keys = profiles.pair_codes(a, b)
            column = _lookup(keys, self.pairs)[code] if keys else np.zeros(0, dtype=np.int64)
            pairs.append((rows[column >= 0], column[column >= 0]))
        vocab, business_vocab = _lookup(profiles.words, self.vocab), _lookup(profiles.words, self.business_vocab)
        chunks = []
        for start in range(0, max(n, 1), CHUNK):
            part = slice(start, min(start + CHUNK, n))
            entries = _Entries()
            self._level_entries(entries, part, blocks)
            for pair_rows, column in pairs:
                within = _within(pair_rows, part)
                entries.add(pair_rows[within] - start, column[within], 1.0)
            for sets, columns in ((profiles.main_terms, vocab), (profiles.business_terms, business_vocab)):
                within = _within(sets.rows, part)
                _term_entries(entries, WordSets(sets.rows[within] - np.int32(start), sets.words[within]), columns)
            for scopes, units in ((profiles.scopes, self.units), (profiles.business_scopes, self.business_units)):
                within = _within(scopes.rows, part)
                chunk = Scopes(scopes.rows[within] - start, scopes.unit[within], scopes.quantity[within], scopes.units)
                self._scope_entries(entries, chunk, units)
            self._year_entries(entries, profiles.close_year[part])
            chunks.append(entries.matrix((part.stop - start, self.n_columns)))
        matrix: sparse.csr_matrix = chunks[0] if len(chunks) == 1 else sparse.vstack(chunks, format="csr")
        return matrix

    def _level_entries(self, entries: _Entries, rows: slice, blocks: dict[str, np.ndarray]) -> None:
        everyone = np.arange(rows.stop - rows.start)
        entries.add(everyone, np.zeros(len(everyone), dtype=np.int64), 1.0)
        for block in MODEL_BLOCKS:
            block_levels = self.levels[block]
            column = blocks[block][rows]
            known = column >= 0
            entries.add(everyone[known], column[known], 1.0)
            unknown = np.flatnonzero(~known)
            if block_levels and len(unknown):
                # Unknown or missing: expect the average effect rather than the baseline level's.
                level_columns = np.fromiter(block_levels.values(), dtype=np.int64)
                entries.add(np.repeat(unknown, len(level_columns)), np.tile(level_columns, len(unknown)),
                            np.tile(self.level_freq[block], len(unknown)))

    def _year_entries(self, entries: _Entries, close_year: np.ndarray) -> None:
        everyone = np.arange(len(close_year))
        lo, hi = self.year_range
        # Trends are extrapolated at most one year past the data: beyond that a line is a guess.
        entries.add(everyone, np.full(len(everyone), self.year_column), np.clip(close_year, lo, hi + 1.0))
        entries.add(everyone, self.year_column + 1 + close_quarter(close_year), 1.0)

    def tfidf(self, profiles: Profiles) -> sparse.csr_matrix:
        """L2-normalized TF-IDF rows over the model vocabulary, for text similarity between projects."""
        columns = _lookup(profiles.words, self.vocab) - self.token_offset
        terms = profiles.terms
        cols = columns[terms.words] if len(columns) else np.zeros(0, dtype=np.int64)
        keep = cols >= 0
        rows = terms.rows
        weights = sparse.coo_matrix(
            (self.idf[cols[keep]], (rows[keep], cols[keep])), shape=(profiles.n, len(self.vocab))
        ).tocsr()
        # Summed in column order within each row, whatever order the words were read in: the same bits every run.
        row_of = np.repeat(np.arange(profiles.n), np.diff(weights.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=weights.data * weights.data, minlength=profiles.n))
        norms[norms == 0] = 1.0
        weights.data /= norms[row_of]
        return weights
