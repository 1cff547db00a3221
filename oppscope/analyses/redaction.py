"""Secrets and personal identifiers masked out of an opportunity's free text, before anything keeps or shows it.

Sellers paste CRM notes into the description, and those carry what no analysis needs: a customer's e-mail
address, a card number from a payment project, the API key of a demo account. Whatever is stored is also
answered, exported and rerun, so the text is masked once, where an opportunity enters the service (API,
original-compatible routes, pages, CLI), and every later reader sees the masked text only. The setting
``mask_free_text`` turns it off for deployments whose text is known to be clean.

Only the shapes are recognised, so masking is cheap and predictable: a value that looks like a secret is
masked even when it is not one (a 32-digit hex id, a test card number), which costs the analysis nothing;
prose around it is kept. Links are not free text and are kept as given (a calculator link's id is long hex).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from pydantic import ValidationError

from oppscope.analysis.contracts import Opportunity

# The Opportunity fields people type prose into; ids, dates, regions and links are not masked.
FREE_TEXT: Final = (
    "customer_name",
    "opportunity_name",
    "description",
    "business_description",
    "partner_name",
    "industry",
    "customer_segment",
    "activity_focus",
    "migration_phase",
)

SECRET: Final = "[secret]"
_LABELLED = re.compile(
    r"(?P<label>\b(?:passwords?|passwd|pwd|passcode|passphrase|pin|secret(?:[ _-]?key)?|client[ _-]?secret"
    r"|api[ _-]?keys?|access[ _-]?keys?|auth[ _-]?token|access[ _-]?token|token)\b\s*[:=]\s*)"
    r"(?P<value>[\"']?[^\s,;\"']+[\"']?)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<label>Bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_KNOWN_KEYS = re.compile(
    r"\b(?:(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"  # AWS access key ids
    r"|(?:sk|pk|rk)[-_](?:live_|test_|proj-)?[A-Za-z0-9_-]{10,}"  # Stripe, OpenAI and the like
    r"|gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}"  # GitHub, Slack
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"  # JSON Web Tokens
)
_LONG_HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")
# 40 or more base64 characters with upper and lower case letters and digits, as AWS secret keys and most random
# tokens have; without "-", so hyphenated words and ids with a UUID in them are not taken for one.
_B64 = "A-Za-z0-9+/_"
_LONG_BASE64 = re.compile(
    rf"(?<![{_B64}-])(?=[{_B64}]*\d)(?=[{_B64}]*[a-z])(?=[{_B64}]*[A-Z])[{_B64}]{{40,}}=*(?![{_B64}-])"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
# 13 to 19 digits, single spaces or dashes allowed between them; masked only when the Luhn check passes.
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if _luhn(digits) else match.group(0)


# In this order: a labelled value first (so "API key: sk-..." keeps its label), the shapes after.
_RULES: Final[tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...]] = (
    (_LABELLED, rf"\g<label>{SECRET}"),
    (_BEARER, rf"\g<label>{SECRET}"),
    (_KNOWN_KEYS, SECRET),
    (_EMAIL, "[email]"),
    (_CARD, _card),
    (_SSN, "[SSN]"),
    (_LONG_HEX, SECRET),
    (_LONG_BASE64, SECRET),
)


def mask_text(text: str) -> str:
    """``text`` with every secret and personal identifier it seems to carry replaced by a bracketed word."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def mask_opportunity(opportunity: Opportunity) -> Opportunity:
    """The opportunity with its free text masked; the same object when there was nothing to mask."""
    given = {name: value for name in FREE_TEXT if isinstance(value := getattr(opportunity, name), str)}
    masked = {name: text for name, value in given.items() if (text := mask_text(value)) != value}
    if not masked:
        return opportunity
    data = {**opportunity.model_dump(), **masked}
    try:
        return Opportunity.model_validate(data)
    except ValidationError as exc:
        # A bracketed word can be longer than the short secret it replaced: a text at its length limit is cut
        # to it, so the masked input stays one the model accepts (a rerun validates it again).
        for error in exc.errors():
            if error["type"] == "string_too_long":
                name = str(error["loc"][0])
                data[name] = data[name][: error["ctx"]["max_length"]]
        return Opportunity.model_validate(data)
