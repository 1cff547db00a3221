"""A saved analysis as a file: JSON (everything), CSV (one table of every figure) and Markdown (the report).

The HTML print view is a page template and lives with the web app. Text in a saved analysis is the user's and
the history's, so the files are made safe for where they are opened: no CSV cell a spreadsheet would run as a
formula (OWASP's CSV injection advice), no Markdown a renderer would pass through as HTML.
"""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any, Final

from oppscope.analyses.store import SavedAnalysis
from oppscope.analysis.narrative import money, money_range, months, months_range


def as_json(saved: SavedAnalysis) -> str:
    return json.dumps({**saved.identity, **saved.analysis}, indent=2)


def as_csv(saved: SavedAnalysis) -> str:
    """Long format (section, item, field, value): every figure, one per row, with no lossy rounding."""
    doc = saved.analysis
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow(["section", "item", "field", "value"])
    writer.writerow(["analysis", "", "id", saved.id])
    writer.writerow(["analysis", "", "created_at", saved.created_at])
    for field, value in doc["input"].items():
        writer.writerow(["input", "", field, "" if value is None else value])
    predictions = doc["predictions"]
    for name in ("mrr", "arr", "upfront_usd", "time_to_launch_months", "project_duration_months"):
        estimate = predictions.get(name)
        for part in ("value", "low", "high"):
            writer.writerow(["prediction", name, part, "" if estimate is None else estimate[part]])
    for name in ("launch_date", "interval_level", "stated_arr_median"):
        writer.writerow(["prediction", name, "value", _blank(predictions.get(name))])
    writer.writerow(["confidence", "", "level", doc["confidence"]["level"]])
    writer.writerow(["confidence", "", "score", doc["confidence"]["score"]])
    for service in doc["top_services"]:
        for field in ("monthly_usd", "upfront_usd", "usage_share"):
            writer.writerow(["top_service", service["name"], field, service[field]])
    for project in doc["similar_projects"]:
        for field in ("customer_name", "opportunity_name", "similarity", "mrr_usd", "arr_usd", "close_date"):
            writer.writerow(["similar_project", project["opportunity_id"], field, project[field]])
    for program in doc["funding"]:
        writer.writerow(["funding", program["program"], "rule", program["rule"]])
    for follow in doc["follow_on"]:
        for field in ("probability", "expected_arr_usd", "expected_months_after_launch"):
            writer.writerow(["follow_on", follow["project_type"], field, follow[field]])
    for field, value in doc["provenance"].items():
        if field != "settings":
            writer.writerow(["provenance", "", field, value])
    return out.getvalue()


# What makes a spreadsheet read a cell as a formula (or, after a tab or carriage return, as a new cell).
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that starts like a formula gets a leading ``'``, which spreadsheets show as text; numbers
    (negative ones included) are written as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return f"'{value}"
    return value


class _SafeWriter:
    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: list[Any]) -> None:
        self._writer.writerow([spreadsheet_safe(cell) for cell in row])


def _blank(value: Any) -> Any:
    return "" if value is None else value


def as_markdown(saved: SavedAnalysis) -> str:
    doc = saved.analysis
    opp, pred, conf, sections = doc["input"], doc["predictions"], doc["confidence"], doc["sections"]
    level = round(pred["interval_level"] * 100)
    lines = [
        f"# {_md(opp['opportunity_name'])} — {_md(opp['customer_name'])}",
        "",
        f"Analysis `{saved.id}`, {saved.created_at}; region {_md(opp['region'])}, close date {opp['close_date']}.",
        "",
        "## Predictions",
        "",
        f"| metric | value | interval ({level}%) |",
        "|---|---|---|",
        f"| MRR | {money(pred['mrr']['value'])} | {money_range(pred['mrr']['low'], pred['mrr']['high'])} |",
        f"| ARR | {money(pred['arr']['value'])} | {money_range(pred['arr']['low'], pred['arr']['high'])} |",
        f"| Upfront | {money(pred['upfront_usd']['value'])} | "
        f"{money_range(pred['upfront_usd']['low'], pred['upfront_usd']['high'])} |",
    ]
    for label, name in (("Time to launch", "time_to_launch_months"), ("Project duration", "project_duration_months")):
        estimate = pred.get(name)
        if estimate:
            lines.append(
                f"| {label} | {months(estimate['value'])} | {months_range(estimate['low'], estimate['high'])} |"
            )
    lines += [
        f"| Launch date | {pred.get('launch_date') or 'unknown'} | |",
        f"| Confidence | {conf['level']} ({conf['score']}/100) | |",
        "",
        *[f"- {_md(reason)}" for reason in conf["reasons"]],
        "",
        "## Top services",
        "",
        "| service | monthly | upfront | used by analogs |",
        "|---|---|---|---|",
        *[
            f"| {_md(s['name'])} | {money(s['monthly_usd'])} | {money(s['upfront_usd'])} | {s['usage_share']:.0%} |"
            for s in doc["top_services"]
        ],
        "",
        "## Similar projects",
        "",
        "| project | customer | industry | country | ARR | similarity |",
        "|---|---|---|---|---|---|",
        *[
            f"| {_md(p['opportunity_name'])} | {_md(p['customer_name'])} | {_md(p['industry'])} | "
            f"{_md(p['country'])} | {money(p['arr_usd'])} | {p['similarity']:.2f} |"
            for p in doc["similar_projects"]
        ],
        "",
        "## Methodology",
        "",
        _md(sections["methodology"]),
        "",
        "## Findings",
        "",
        *[f"- {_md(f)}" for f in sections["findings"]],
        "",
        "## Rationale",
        "",
        _md(sections["rationale"]),
        "",
        "## Risk factors",
        "",
        *[f"- {_md(r)}" for r in sections["risk_factors"]],
        "",
        "## Architecture",
        "",
        *[f"- **{layer}**: {_md(text)}" for layer, text in sections["architecture"].items()],
        "",
        "## Funding",
        "",
        *([f"- **{_md(f['program'])}**: {_md(f['justification'])} (rule: {_md(f['rule'])})" for f in doc["funding"]]
          or ["No program applies."]),
        "",
        "## Follow-on opportunities",
        "",
        *([
            f"- **{_md(f['project_type'])}**: {f['probability']:.0%} likely, about {money(f['expected_arr_usd'])} ARR, "
            f"{f['expected_months_after_launch']:.0f} months after launch"
            for f in doc["follow_on"]
        ] or ["None seen in the history."]),
        "",
        "## Validation notes",
        "",
        *[f"- {_md(n)}" for n in sections["validation_notes"]],
        "",
        "## Provenance",
        "",
        f"Engine {doc['provenance']['engine_version']}, model `{doc['provenance']['model_id']}`, history snapshot "
        f"`{doc['provenance']['history_snapshot_id']}` ({doc['provenance']['history_rows']} rows).",
        "",
    ]
    return "\n".join(lines)


def _md(text: Any) -> str:
    """Table- and list-safe text that is no HTML: pipes and newlines would break the Markdown structure, and a
    renderer passes ``<script>`` through as markup, so ``&``, ``<`` and ``>`` are written as entities."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")
