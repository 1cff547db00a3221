"""Jinja2 templates for every page and for the printable export, with the report's own formatters as filters.

Money and month ranges are formatted by ``oppscope.analysis.narrative`` so a figure reads the same on the page,
in the Markdown export and in the prose. Templates are autoescaped and undefined names fail loudly. A leaf
module: the pages add the request's state (``pages.rendering.render``), the API renders the print view.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from oppscope.analyses.store import SavedAnalysis
from oppscope.analysis.contracts import Analysis
from oppscope.analysis.narrative import money, money_range, months, months_range
from oppscope.web.assets import asset
from oppscope.web.formatting import long_date, month_name, percent, timestamp

_env = Environment(
    loader=PackageLoader("oppscope.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    money=money,
    money_range=money_range,
    months_range=months_range,
    month_name=month_name,
    long_date=long_date,
    timestamp=timestamp,
    months=months,
    percent=percent,
)
_env.globals.update(asset=asset)


def template(name: str) -> Template:
    return _env.get_template(name)


def report_values(saved: SavedAnalysis) -> dict[str, Any]:
    """What the report partial needs, shared by the result page and the print view."""
    return {"saved": saved, "a": Analysis.model_validate(saved.analysis)}


def print_view(saved: SavedAnalysis) -> str:
    """The whole analysis as one printable HTML document (the ``format=html`` export): no script, no form."""
    return _env.get_template("print.html").render(**report_values(saved))
