"""The design matrix is built for all history rows at once; it must say what the row-by-row build said.

The oracle below is the row-by-row construction the engine used before (words by regular expression, one
Python list of entries per row), kept here only to check the vectorised one against it.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from oppscope.analysis import features
from oppscope.analysis.dataset import History
from oppscope.analysis.features import (
    _SCOPE,
    _STOPWORDS,
    INTERACTIONS,
    MIN_CURVE_COUNT,
    MODEL_BLOCKS,
    FeatureSpace,
    Profile,
    Profiles,
    _quantity,
    history_profiles,
    scope_quantities,
    tokens,
)

_WORD = re.compile(r"[a-z][a-z0-9]+")
_QUANTITY = re.compile(_SCOPE, re.IGNORECASE)


def oracle_tokens(text: str) -> set[str]:
    return {t for t in _WORD.findall(text.lower()) if t not in _STOPWORDS}


def oracle_scopes(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for match in _QUANTITY.findall(text):
        quantity = _quantity(*match)
        if quantity is not None:
            found[quantity[0]] = max(found.get(quantity[0], 0.0), quantity[1])
    return found


def oracle_row(space: FeatureSpace, p: Profile) -> dict[int, float]:
    """One row's entries, built as the engine built them one profile at a time."""
    entries: dict[int, float] = {0: 1.0}
    for block in MODEL_BLOCKS:
        levels = space.levels[block]
        if p.categorical[block] in levels:
            entries[levels[p.categorical[block]]] = 1.0
        else:
            entries |= dict(zip(levels.values(), space.level_freq[block].tolist(), strict=True))
    for a, b in INTERACTIONS:
        column = space.pairs.get(f"{a}={p.categorical[a]}|{b}={p.categorical[b]}")
        if p.categorical[a] and p.categorical[b] and column is not None:
            entries[column] = 1.0
    main = oracle_tokens(p.text)
    business = oracle_tokens(p.business) - main
    for words, vocab in ((main, space.vocab), (business, space.business_vocab)):
        entries |= {vocab[t]: 1.0 for t in words if t in vocab}
    for text, units in ((p.text, space.units), (p.business, space.business_units)):
        for unit, qty in oracle_scopes(text).items():
            if unit in units:
                c = units[unit]
                value = min(max(math.log1p(qty), c.low), c.high)
                entries[c.first] = value
                entries[c.first + 1] = 1.0
                entries |= {c.first + 2 + j: value - knot for j, knot in enumerate(c.knots) if value > knot}
    lo, hi = space.year_range
    entries[space.year_column] = float(np.clip(p.close_year, lo, hi + 1.0))
    entries[space.year_column + 1 + min(int((p.close_year % 1.0) * 4), 3)] = 1.0
    return entries


def _as_dict(row: sparse.csr_matrix) -> dict[int, float]:
    return dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))


def _profile(history: History, i: int) -> Profile:
    return Profile(
        categorical={b: history.keys[b][i] for b in MODEL_BLOCKS},
        text=f"{history.opportunity_name[i]} {history.description[i]}",
        close_year=float(history.close_years[i]),
        business=str(history.business_description[i]),
    )


ODD_TEXTS = [
    "",
    "   ",
    "Ünïcödé façade — Straße Ω 東京 migration of 1,200 servers",
    "Kelvin sign \u212a8s and \u017fpecial 3.5k users",
    "tabs\tand\nnewlines 40 TB\x01hidden separator 12 apps",
    "24x7 ops, 3d printing, $1.2M budget, 20% growth, 2023 launch, 0 servers",
    "a b c an the of",  # stop words and one-letter words only
]


@pytest.fixture(scope="module")
def space(history: History) -> FeatureSpace:
    return FeatureSpace.fit(history_profiles(history))


def test_history_rows_equal_the_row_by_row_build(history: History, space: FeatureSpace) -> None:
    x = space.matrix(history_profiles(history))
    assert x.shape == (history.n, space.n_columns) and x.has_canonical_format
    for i in range(0, history.n, max(1, history.n // 400)):
        assert _as_dict(x[i]) == oracle_row(space, _profile(history, i)), i


def test_a_unit_stated_often_gets_knots_inside_its_range_and_a_rare_one_a_line(
    history: History, space: FeatureSpace
) -> None:
    found = history_profiles(history).scopes
    stated = dict(zip(found.units, np.bincount(found.unit, minlength=len(found.units)).tolist(), strict=True))
    curved = {u for u, c in space.units.items() if c.knots}
    assert curved and curved != set(space.units)  # the sample has both kinds: the test sees both
    for unit, c in space.units.items():
        assert (stated[unit] >= MIN_CURVE_COUNT) == bool(c.knots) or c.low == c.high, unit
        assert list(c.knots) == sorted(set(c.knots)) and all(c.low < k < c.high for k in c.knots), unit
    columns = [col for c in [*space.units.values(), *space.business_units.values()] for col in c.columns]
    assert len(columns) == len(set(columns))  # every unit's columns are its own


def test_odd_and_empty_inputs_equal_the_row_by_row_build(history: History, space: FeatureSpace) -> None:
    rng = np.random.default_rng(3)
    profiles = []
    for k, text in enumerate(ODD_TEXTS):
        row = int(rng.integers(history.n))
        base = _profile(history, row)
        # Missing fields, unknown values, and the odd text as description or as business description.
        categorical = {b: ("" if (k + j) % 3 == 0 else "never seen" if (k + j) % 3 == 1 else v)
                       for j, (b, v) in enumerate(base.categorical.items())}
        profiles.append(Profile(categorical, text, base.close_year + k, business=ODD_TEXTS[-1 - k]))
    together = space.matrix(Profiles.of(profiles))
    for i, p in enumerate(profiles):
        expected = oracle_row(space, p)
        assert _as_dict(together[i]) == expected
        assert _as_dict(space.matrix(Profiles.of([p]))[0]) == expected  # a query is a batch of one


def test_similarity_rows_are_unit_tfidf_over_the_stated_words(history: History, space: FeatureSpace) -> None:
    tf = space.tfidf(history_profiles(history))
    for i in range(0, history.n, max(1, history.n // 200)):
        p = _profile(history, i)
        words = (oracle_tokens(p.text) | oracle_tokens(p.business)) & space.vocab.keys()
        cols = sorted(space.vocab[t] - space.token_offset for t in words)
        weights = space.idf[cols] / (np.linalg.norm(space.idf[cols]) or 1.0)
        assert tf[i].indices.tolist() == cols
        assert np.allclose(tf[i].data, weights, rtol=1e-14, atol=0)


def test_the_vocabulary_keeps_words_neither_rare_nor_everywhere(history: History, space: FeatureSpace) -> None:
    counts: dict[str, int] = {}
    for i in range(history.n):
        p = _profile(history, i)
        for t in oracle_tokens(p.text) | oracle_tokens(p.business):
            counts[t] = counts.get(t, 0) + 1
    min_df = max(3, int(0.0005 * history.n))
    assert set(space.vocab) == {t for t, c in counts.items() if min_df <= c <= 0.6 * history.n}
    assert list(space.vocab.values()) == list(range(space.token_offset, space.token_offset + len(space.vocab)))


def test_an_empty_batch_has_no_rows(space: FeatureSpace) -> None:
    none = Profiles.of([])
    assert space.matrix(none).shape == (0, space.n_columns)
    assert space.tfidf(none).shape == (0, len(space.vocab))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_words_and_quantities_match_the_regular_expressions(text: str) -> None:
    assert tokens(text) == oracle_tokens(text)
    assert scope_quantities(text) == oracle_scopes(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=8))
def test_texts_read_together_read_as_each_alone(texts: list[str]) -> None:
    profiles = Profiles.of([Profile(dict.fromkeys(MODEL_BLOCKS, ""), t, 0.0, business=t[::-1]) for t in texts])
    main, business = profiles.main_terms, profiles.business_terms
    for i, t in enumerate(texts):
        assert {profiles.words[w] for w in main.words[main.rows == i]} == oracle_tokens(t)
        only = oracle_tokens(t[::-1]) - oracle_tokens(t)
        assert {profiles.words[w] for w in business.words[business.rows == i]} == only
        assert {profiles.scopes.units[u]: q for u, q in zip(
            profiles.scopes.unit[profiles.scopes.rows == i], profiles.scopes.quantity[profiles.scopes.rows == i],
            strict=True)} == oracle_scopes(t)


def test_the_matrix_built_in_chunks_is_the_matrix_built_at_once(
    history: History, space: FeatureSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = space.matrix(history_profiles(history))
    monkeypatch.setattr(features, "CHUNK", 577)  # words, scopes and design rows all read in many chunks
    chunked = space.matrix(history_profiles(history))
    assert chunked.shape == whole.shape
    for part in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(chunked, part), getattr(whole, part))
