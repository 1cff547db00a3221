"""Masking of free text: each shape a secret or identifier takes, what is left alone, and the opportunity."""

from __future__ import annotations

import pytest

from oppscope.analyses.redaction import mask_opportunity, mask_text
from oppscope.analysis.contracts import Opportunity
from tests.examples import OPPORTUNITY


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ACME Corp (SSN: 123-45-6789)", "ACME Corp (SSN: [SSN])"),
        ("card 4111-1111-1111-1111 and 4111 1111 1111 1111", "card [card] and [card]"),
        ("not a card: 4111 1111 1111 1112", "not a card: 4111 1111 1111 1112"),  # fails the Luhn check
        ("API Key: sk-1234567890abcdef, Password: admin123", "API Key: [secret], Password: [secret]"),
        ("password=hunter2; pwd: 'x y'", "password=[secret]; pwd: [secret] y'"),
        ("Email: user@example.com or john.doe+crm@mail.example.co.uk", "Email: [email] or [email]"),
        ("AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[secret] / [secret]"),
        ("Authorization: Bearer abcdefghij.klmnop", "Authorization: Bearer [secret]"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789 xoxb-1234567890-abcdef", "[secret] [secret]"),
        ("digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "digest [secret]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
         "jwt [secret]"),
    ],
)
def test_each_shape_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "Migrate 240 servers and 30 Oracle databases (500TB, $1.2M) by 2025-03-31",
        "Tokens: 2M per month through Bedrock; risk-adjusted plan; phone +49 30 1234567",
        "O'Reilly Media, ticket CS-1234-56, version 10.2.3, id 006Ab00000XyZ12AAB",
        "key race-3f2a1b4c-9d8e-4f7a-8b6c-5d4e3f2a1b0c, state-of-the-art-cloud-migration-programme-2024-wave-2",
        "table customer_name_2024_migration_of_legacy_applications_v2",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_an_opportunity_is_masked_in_its_free_text_only() -> None:
    link = "https://calculator.aws/#/estimate?id=0123456789abcdef0123456789abcdef01234567"
    opportunity = Opportunity.model_validate(
        {**OPPORTUNITY, "description": "Contact cfo@acme.example", "aws_calculator_link": link}
    )
    masked = mask_opportunity(opportunity)
    assert masked.description == "Contact [email]"
    assert masked.aws_calculator_link == link  # links are kept as given
    assert mask_opportunity(masked) is masked  # nothing left to mask: the same object


def test_a_masked_text_at_its_length_limit_stays_within_it() -> None:
    name = "x" * 294 + " pwd=1"  # 300 characters; "pwd=1" grows to "pwd=[secret]"
    masked = mask_opportunity(Opportunity.model_validate({**OPPORTUNITY, "customer_name": name}))
    assert masked.customer_name == "x" * 294 + " pwd=["  # cut to the limit, the secret gone all the same
