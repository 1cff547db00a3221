"""Where an opportunity is: AWS region codes, countries and the partner organisation's sales geography.

Sellers type a location in whatever form they have at hand (``eu-central-1``, ``Deutschland``, ``US East
(N. Virginia)``), while the history stores a country plus the sales region and sub-region it belongs to. This
module is the one place that maps between the two, so the sample generator and the analysis agree.
"""

from __future__ import annotations

import re
from typing import Final

AWS_REGION_COUNTRY: Final[dict[str, str]] = {
    "us-east-1": "United States",
    "us-east-2": "United States",
    "us-west-1": "United States",
    "us-west-2": "United States",
    "us-gov-east-1": "United States",
    "us-gov-west-1": "United States",
    "ca-central-1": "Canada",
    "ca-west-1": "Canada",
    "mx-central-1": "Mexico",
    "sa-east-1": "Brazil",
    "eu-central-1": "Germany",
    "eu-central-2": "Switzerland",
    "eu-west-1": "Ireland",
    "eu-west-2": "United Kingdom",
    "eu-west-3": "France",
    "eu-north-1": "Sweden",
    "eu-south-1": "Italy",
    "eu-south-2": "Spain",
    "me-south-1": "Bahrain",
    "me-central-1": "United Arab Emirates",
    "il-central-1": "Israel",
    "af-south-1": "South Africa",
    "ap-south-1": "India",
    "ap-south-2": "India",
    "ap-east-1": "Hong Kong",
    "ap-southeast-1": "Singapore",
    "ap-southeast-2": "Australia",
    "ap-southeast-3": "Indonesia",
    "ap-southeast-4": "Australia",
    "ap-southeast-5": "Malaysia",
    "ap-southeast-7": "Thailand",
    "ap-northeast-1": "Japan",
    "ap-northeast-2": "South Korea",
    "ap-northeast-3": "Japan",
    "cn-north-1": "China",
    "cn-northwest-1": "China",
}

COUNTRY_GEO: Final[dict[str, tuple[str, str]]] = {
    "United States": ("NAMER", "US-East"),
    "Canada": ("NAMER", "Canada"),
    "Brazil": ("LATAM", "Brazil"),
    "Mexico": ("LATAM", "Mexico"),
    "Chile": ("LATAM", "SSA"),
    "Colombia": ("LATAM", "SSA"),
    "Argentina": ("LATAM", "SSA"),
    "Peru": ("LATAM", "SSA"),
    "United Kingdom": ("EMEA", "UKI"),
    "Ireland": ("EMEA", "UKI"),
    "Germany": ("EMEA", "DACH"),
    "Switzerland": ("EMEA", "DACH"),
    "Austria": ("EMEA", "DACH"),
    "France": ("EMEA", "France"),
    "Netherlands": ("EMEA", "Benelux"),
    "Belgium": ("EMEA", "Benelux"),
    "Sweden": ("EMEA", "Nordics"),
    "Norway": ("EMEA", "Nordics"),
    "Denmark": ("EMEA", "Nordics"),
    "Finland": ("EMEA", "Nordics"),
    "Italy": ("EMEA", "Southern Europe"),
    "Spain": ("EMEA", "Southern Europe"),
    "Portugal": ("EMEA", "Southern Europe"),
    "Poland": ("EMEA", "CEE"),
    "Bahrain": ("EMEA", "Middle East"),
    "United Arab Emirates": ("EMEA", "Middle East"),
    "Saudi Arabia": ("EMEA", "Middle East"),
    "Israel": ("EMEA", "Middle East"),
    "South Africa": ("EMEA", "Africa"),
    "Australia": ("APJ", "ANZ"),
    "New Zealand": ("APJ", "ANZ"),
    "Japan": ("APJ", "Japan"),
    "South Korea": ("APJ", "Korea"),
    "India": ("APJ", "India"),
    "Singapore": ("APJ", "ASEAN"),
    "Indonesia": ("APJ", "ASEAN"),
    "Malaysia": ("APJ", "ASEAN"),
    "Thailand": ("APJ", "ASEAN"),
    "Philippines": ("APJ", "ASEAN"),
    "Hong Kong": ("APJ", "Greater China"),
    "China": ("APJ", "Greater China"),
}

# The United States is the one country the sales organisation splits further; COUNTRY_GEO names the
# largest part, and the sample generator spreads US customers over all three with these weights.
US_SUB_REGIONS: Final[tuple[tuple[str, float], ...]] = (("US-East", 0.45), ("US-Central", 0.2), ("US-West", 0.35))

_ALIASES: Final[dict[str, str]] = {
    "us": "United States",
    "usa": "United States",
    "u.s.": "United States",
    "u.s.a.": "United States",
    "united states of america": "United States",
    "america": "United States",
    "ca": "Canada",
    "br": "Brazil",
    "brasil": "Brazil",
    "mx": "Mexico",
    "méxico": "Mexico",
    "uk": "United Kingdom",
    "u.k.": "United Kingdom",
    "gb": "United Kingdom",
    "great britain": "United Kingdom",
    "britain": "United Kingdom",
    "england": "United Kingdom",
    "scotland": "United Kingdom",
    "ie": "Ireland",
    "de": "Germany",
    "deutschland": "Germany",
    "ch": "Switzerland",
    "schweiz": "Switzerland",
    "suisse": "Switzerland",
    "at": "Austria",
    "österreich": "Austria",
    "fr": "France",
    "nl": "Netherlands",
    "nederland": "Netherlands",
    "holland": "Netherlands",
    "the netherlands": "Netherlands",
    "se": "Sweden",
    "sverige": "Sweden",
    "no": "Norway",
    "norge": "Norway",
    "dk": "Denmark",
    "danmark": "Denmark",
    "fi": "Finland",
    "suomi": "Finland",
    "it": "Italy",
    "italia": "Italy",
    "es": "Spain",
    "españa": "Spain",
    "espana": "Spain",
    "pt": "Portugal",
    "pl": "Poland",
    "polska": "Poland",
    "uae": "United Arab Emirates",
    "emirates": "United Arab Emirates",
    "ksa": "Saudi Arabia",
    "za": "South Africa",
    "rsa": "South Africa",
    "au": "Australia",
    "aus": "Australia",
    "nz": "New Zealand",
    "jp": "Japan",
    "nippon": "Japan",
    "korea": "South Korea",
    "republic of korea": "South Korea",
    "kr": "South Korea",
    "in": "India",
    "bharat": "India",
    "sg": "Singapore",
    "hk": "Hong Kong",
    "prc": "China",
    # AWS console region names, so "US East (N. Virginia)" resolves through its location.
    "n. virginia": "United States",
    "northern virginia": "United States",
    "virginia": "United States",
    "ohio": "United States",
    "n. california": "United States",
    "oregon": "United States",
    "govcloud": "United States",
    "aws govcloud": "United States",
    "calgary": "Canada",
    "são paulo": "Brazil",
    "sao paulo": "Brazil",
    "frankfurt": "Germany",
    "zurich": "Switzerland",
    "london": "United Kingdom",
    "paris": "France",
    "stockholm": "Sweden",
    "milan": "Italy",
    "cape town": "South Africa",
    "mumbai": "India",
    "hyderabad": "India",
    "sydney": "Australia",
    "melbourne": "Australia",
    "jakarta": "Indonesia",
    "tokyo": "Japan",
    "osaka": "Japan",
    "seoul": "South Korea",
    "tel aviv": "Israel",
    "beijing": "China",
    "ningxia": "China",
}

_LOOKUP: Final[dict[str, str]] = {
    **{code: country for code, country in AWS_REGION_COUNTRY.items()},
    **{country.lower(): country for country in COUNTRY_GEO},
    **_ALIASES,
}

# A region code inside longer text, e.g. "deploy in eu-west-2 please" or "us-gov-west-1 (GovCloud)".
_CODE_IN_TEXT: Final = re.compile(r"\b[a-z]{2}(?:-gov)?-[a-z]+-\d\b")
# An AWS console name such as "Europe (Frankfurt)" or "Canada (Central)": area, then location in brackets.
_CONSOLE_NAME: Final = re.compile(r"^([^(]*)\(([^)]*)\)")


def resolve_region(text: str) -> str | None:
    """The country meant by a region code, country name or common alias; None when nothing is recognised.

    Whole-text matches win over partial ones, so a two-letter alias like "in" only counts on its own.
    """
    key = " ".join(text.strip().lower().split())
    if not key:
        return None
    if key in _LOOKUP:
        return _LOOKUP[key]
    code = _CODE_IN_TEXT.search(key)
    if code is not None and code.group(0) in AWS_REGION_COUNTRY:
        return AWS_REGION_COUNTRY[code.group(0)]
    console = _CONSOLE_NAME.match(key)
    if console is not None:
        return _LOOKUP.get(console.group(1).strip()) or _LOOKUP.get(console.group(2).strip())
    return None
