"""Reading what a seller typed against the history's own vocabulary."""

from __future__ import annotations

from datetime import date

import pytest

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import History, normalize
from oppscope.analysis.resolve import Resolution, Vocabulary, resolve


@pytest.fixture(scope="module")
def vocab(history: History) -> Vocabulary:
    return Vocabulary.build(history)


def _resolve(history: History, vocab: Vocabulary, **fields: str) -> Resolution:
    data = {"customer_name": "Nobody New", "region": "Germany", "close_date": date(2026, 1, 1),
            "opportunity_name": "x", "description": "y"} | fields
    return resolve(Opportunity.model_validate(data), vocab, history, 6.0)


def test_region_code_becomes_country_and_region(history: History, vocab: Vocabulary) -> None:
    r = _resolve(history, vocab, region="eu-central-1")
    assert r.profile.categorical["country"] == "germany"
    assert r.profile.categorical["region"] == "emea"
    assert any("eu-central-1" in n for n in r.notes)


def test_case_spacing_and_punctuation_do_not_matter(history: History, vocab: Vocabulary) -> None:
    r = _resolve(history, vocab, customer_segment="mid market", industry="software and internet")
    assert r.profile.categorical["segment"] == normalize("Mid-Market")
    assert r.unknown == ["industry 'software and internet'"]  # words, not punctuation, must match


def test_a_whole_region_is_accepted(history: History, vocab: Vocabulary) -> None:
    r = _resolve(history, vocab, region="APJ")
    assert r.profile.categorical["region"] == "apj"
    assert r.profile.categorical["country"] == ""
    assert not r.unknown


def test_unknown_region_is_reported(history: History, vocab: Vocabulary) -> None:
    assert _resolve(history, vocab, region="Atlantis").unknown == ["region 'Atlantis'"]


def test_activity_focus_matches_project_type_loosely(history: History, vocab: Vocabulary) -> None:
    r = _resolve(history, vocab, activity_focus="migration")
    assert r.profile.categorical["project_type"] == "migration"
    r = _resolve(history, vocab, activity_focus="Data Analytics")
    assert r.profile.categorical["project_type"] == "data analytics"


def test_known_customer_fills_what_the_seller_left_out(history: History, vocab: Vocabulary) -> None:
    customer = str(history.categorical["customer"][-1])
    r = _resolve(history, vocab, customer_name=customer.upper())
    assert r.profile.categorical["industry"] == normalize(history.categorical["industry"][-1])
    assert r.profile.categorical["segment"] == normalize(history.categorical["segment"][-1])
    assert any("customer's history" in n for n in r.notes)


def test_stated_values_win_over_the_customer_history(history: History, vocab: Vocabulary) -> None:
    customer = str(history.categorical["customer"][-1])
    r = _resolve(history, vocab, customer_name=customer, industry="Space Mining")
    assert r.profile.categorical["industry"] == "space mining"
    assert r.unknown == ["industry 'Space Mining'"]
