"""The report text in the original's format, which the original's clients take apart with regular expressions.

Each rule here answers a parser the original's clients run: the eight headers on their own lines in a fixed
order, one fact per line, whole dollars with commas, ``Name|$m/month|$u upfront`` service lines without spaces
around the pipes, and no ``===``, ``|``, ``---`` run or line break inside a value, since each of those ends a
section, splits a field or starts a project block somewhere. ``flat`` makes any value safe to write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from oppscope.analysis.contracts import Analysis, SimilarProject
from oppscope.analysis.narrative import UNKNOWN, money
from oppscope.history.schema import DAYS_PER_MONTH, OTHER_SERVICES, SERVICE_SLOTS, monthly_column, upfront_column

NA: Final = "N/A"  # the original's own word for an unknown value, which its parsers pass through as text
# Spaces in the first seven, as the prompt the original's parsers were written against; the last one was
# always written with an underscore.
HEADERS: Final = (
    "ANALYSIS METHODOLOGY",
    "SIMILAR PROJECTS",
    "DETAILED FINDINGS",
    "PREDICTION RATIONALE",
    "RISK FACTORS",
    "ARCHITECTURE DESCRIPTION",
    "SUMMARY METRICS",
    "VALIDATION_ERRORS",
)
PROJECT_BLOCKS: Final = 3  # the original's prompt asked for exactly three
SHOWN_SERVICES: Final = 4  # per project; the rest are combined, as the original did
SALESFORCE_LINK: Final = "https://aws-crm.lightning.force.com/lightning/r/Opportunity/{}/view"

# Keys some parser looks for anywhere in a section, so a value must not contain one followed by a colon.
_KEYS = re.compile(
    r"(PREDICTED_ARR|PREDICTED_PROJECT_DURATION|LAUNCH_DATE|TOP_SERVICES|OTHER_SERVICES|CONFIDENCE_SCORE|CONFIDENCE"
    r"|NETWORK_FOUNDATION|COMPUTE_LAYER|DATA_LAYER|SECURITY_COMPONENTS|INTEGRATION_POINTS|SCALING_ELEMENTS"
    r"|MANAGEMENT_TOOLS|COMPLETE_ARCHITECTURE|MRR|ARR)\s*:",
    re.IGNORECASE,
)
# Words that end the TOP_SERVICES block wherever they appear, so a service name must not contain them.
_BLOCK_ENDS = re.compile(r"OTHER_SERVICES|CONFIDENCE", re.IGNORECASE)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# What would make text markup or script where the original's pages write it with innerHTML or into a link:
# tags, the script: URL schemes and event-handler attributes. Each is kept readable with a look-alike.
_SCRIPT_SCHEME = re.compile(r"\b((?:java|vb)script\s*):", re.IGNORECASE)
_EVENT_HANDLER = re.compile(r"\b(on[a-z]+\s*)=", re.IGNORECASE)


def inert(text: str) -> str:
    """``text`` that is no markup and no script wherever a page puts it: ``<``/``>`` become ``‹``/``›``,
    ``javascript:`` becomes ``javascript：``, ``onerror=`` becomes ``onerror＝``. Every string these routes
    answer passes through it, the user's own text and the history's alike."""
    text = text.replace("<", "‹").replace(">", "›")
    return _EVENT_HANDLER.sub("\\1＝", _SCRIPT_SCHEME.sub("\\1：", text))


def flat(value: object) -> str:
    """One line the original's parsers read as a plain value; N/A for nothing."""
    text = inert(" ".join(str(value).split())).replace("|", "/")
    text = re.sub(r"={2,}", "=", re.sub(r"-{3,}", "-", text))
    return _KEYS.sub(r"\1 -", text) or NA


def service_name(name: str) -> str:
    return _BLOCK_ENDS.sub(lambda m: "conf." if m.group(0).lower() == "confidence" else "other services", flat(name))


def monthly_cost(value: float) -> str:
    return f"{money(value)}/month"


def upfront_cost(value: float) -> str:
    return f"{money(value)} upfront"


def service_line(name: str, monthly: float, upfront: float) -> str:
    return f"{service_name(name)}|{monthly_cost(monthly)}|{upfront_cost(upfront)}"


def summary_value(analysis: Analysis, key: str) -> str:
    """A line of the analysis' own summary metrics (the figures the original's report lists); "" when unknown."""
    value = analysis.sections.summary_metrics[key]
    return "" if value == UNKNOWN else value


@dataclass(frozen=True)
class Report:
    methodology: str
    similar_projects: str
    findings: str
    rationale: str
    risk_factors: str
    architecture: str
    summary_metrics: str
    validation_errors: str
    architecture_fields: dict[str, str]  # NETWORK_FOUNDATION ... COMPLETE_ARCHITECTURE

    def text(self) -> str:
        bodies = (self.methodology, self.similar_projects, self.findings, self.rationale, self.risk_factors,
                  self.architecture, self.summary_metrics, self.validation_errors)
        return "\n\n".join(f"==={header}===\n{body}" for header, body in zip(HEADERS, bodies, strict=True)) + "\n"


def build_report(analysis: Analysis, rows: Mapping[str, Mapping[str, Any]]) -> Report:
    """The report of ``analysis``; ``rows`` (history rows by opportunity id) fill the project blocks."""
    s = analysis.sections
    fields = _architecture(analysis)
    blocks = [_project(n, p, rows.get(p.opportunity_id, {}))
              for n, p in enumerate(analysis.similar_projects[:PROJECT_BLOCKS], 1)]
    return Report(
        methodology=flat(s.methodology),
        similar_projects="\n\n".join(blocks) or NA,
        findings=_bullets(s.findings),
        rationale=flat(s.rationale),
        risk_factors=_bullets(s.risk_factors),
        architecture="\n".join(f"{key}: {value}" for key, value in fields.items()),
        summary_metrics=_summary(analysis),
        validation_errors=_bullets([*analysis.warnings, *s.validation_notes]),
        architecture_fields=fields,
    )


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {flat(item)}" for item in items) or NA


def _summary(analysis: Analysis) -> str:
    named = [s for s in analysis.top_services if s.name != OTHER_SERVICES]
    rest = [s for s in analysis.top_services if s.name == OTHER_SERVICES]

    def line(key: str) -> str:
        return f"{key}: {summary_value(analysis, key) or NA}"

    return "\n".join([
        *(line(key) for key in ("PREDICTED_ARR", "MRR", "LAUNCH_DATE", "PREDICTED_PROJECT_DURATION")),
        "TOP_SERVICES:",
        *(service_line(s.name, s.monthly_usd, s.upfront_usd) for s in named),
        *(f"OTHER_SERVICES: {service_line('Combined', s.monthly_usd, s.upfront_usd)}" for s in rest),
        line("CONFIDENCE"),
        line("CONFIDENCE_SCORE"),
    ])


def _architecture(analysis: Analysis) -> dict[str, str]:
    a, p = analysis.sections.architecture, analysis.predictions
    names = [flat(s.name) for s in analysis.top_services]
    total = f"{monthly_cost(p.mrr.value)} and {upfront_cost(p.upfront_usd.value)} in total"
    complete = f"{' + '.join(names)}, {total}" if names else NA
    return {
        "NETWORK_FOUNDATION": flat(a.network),
        "COMPUTE_LAYER": flat(a.compute),
        "DATA_LAYER": flat(a.data),
        "SECURITY_COMPONENTS": flat(a.security),
        "INTEGRATION_POINTS": flat(a.integration),
        "SCALING_ELEMENTS": flat(a.scaling),
        "MANAGEMENT_TOOLS": flat(a.management),
        "COMPLETE_ARCHITECTURE": complete,
    }


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if _ISO_DAY.match(text) else None
    except ValueError:
        return None


def _project(number: int, p: SimilarProject, row: Mapping[str, Any]) -> str:
    def column(name: str) -> str:
        value = row.get(name)
        return NA if value is None else flat(value)

    close, start, end = (_day(d) for d in (p.close_date, p.planned_delivery_start_date, p.planned_delivery_end_date))
    gap = str((start - close).days) if start and close else NA
    execution = f"{(end - start).days / DAYS_PER_MONTH:.1f}" if end and start else NA
    stated = money(p.stated_arr_usd) if p.stated_arr_usd is not None else NA
    return "\n".join([
        f"--- Project {number} ---",
        f"• Project Name: {flat(p.opportunity_name)}",
        f"• Customer: {flat(p.customer_name)}",
        f"• Partner: {flat(p.partner_name)}",
        f"• Industry: {flat(p.industry)}",
        f"• Customer Segment: {flat(p.customer_segment)}",
        f"• Region: {flat(p.region)} (Sub-Region: {column('oppertunity-sub-region')}, Country: {flat(p.country)})",
        f"• Activity/Focus: {column('activity_name')}",
        f"• Description: {column('description')}",
        f"• Business Description: {column('business_description')}",
        f"• Historical Close Date: {close or NA}",
        f"• Historical Start Date: {start or NA}",
        f"• Historical End Date: {end or NA}",
        f"• Actual Gap Time (Days): {gap}",
        f"• Actual Execution Duration (Months): {execution}",
        f"• Migration Phase (Historical): {column('migration_phase')}",
        f"• Salesforce Link: {SALESFORCE_LINK.format(flat(p.opportunity_id)) if p.opportunity_id else NA}",
        f"• AWS Calculator Link: {column('apfp_aws_calculator_url')}",
        "• Historical Financials (Calculated from its Service Costs):",
        f"o Total MRR: {money(p.mrr_usd)}",
        f"o Total ARR: {money(p.arr_usd)}",
        f"o Stated Historical Raw ARR: {stated}",
        "• Top Services (Historical Project):",
        *_project_services(row),
    ])


def project_service_lines(row: Mapping[str, Any]) -> list[str]:
    """A history row's services in slot order: the first four, then the rest combined, as the original listed
    them."""
    costs = [(str(row[slot]), float(row.get(monthly_column(slot)) or 0), float(row.get(upfront_column(slot)) or 0))
             for slot in SERVICE_SLOTS if row.get(slot)]
    lines = [service_line(*cost) for cost in costs[:SHOWN_SERVICES]]
    rest = costs[SHOWN_SERVICES:]
    if rest:
        combined = service_line("Combined", sum(m for _, m, _ in rest), sum(u for _, _, u in rest))
        lines.append(f"OTHER_SERVICES: {combined}")
    return lines


def _project_services(row: Mapping[str, Any]) -> list[str]:
    return [f"o {line}" for line in project_service_lines(row) or [NA]]
