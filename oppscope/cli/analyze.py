"""``oppscope analyze``: size one opportunity from flags or a JSON file, or a whole JSON Lines batch.

A batch never stops at a bad line: every input line gets exactly one output line, in order, carrying either
the analysis or a structured error, so the output can be joined back to the input by position or ``input_id``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import CliError, Output, invalid_input
from oppscope.errors import error_body

if TYPE_CHECKING:
    from collections.abc import Callable

    from oppscope.analysis.contracts import Analysis, Estimate, Opportunity
    from oppscope.config import Settings

_TextOption = Annotated[str | None, typer.Option(show_default=False)]
_RequiredText = Annotated[str | None, typer.Option(help="Required (here or in --json-file).", show_default=False)]


@with_state()
def analyze(
    state: CliState,
    customer_name: _RequiredText = None,
    region: Annotated[
        str | None,
        typer.Option(help="Required. Country name or AWS region code, e.g. Germany.", show_default=False),
    ] = None,
    close_date: Annotated[
        str | None, typer.Option(help="Required. Expected close date, YYYY-MM-DD.", show_default=False)
    ] = None,
    opportunity_name: _RequiredText = None,
    description: _TextOption = None,
    industry: _TextOption = None,
    customer_segment: _TextOption = None,
    partner_name: _TextOption = None,
    activity_focus: _TextOption = None,
    business_description: _TextOption = None,
    migration_phase: _TextOption = None,
    salesforce_link: _TextOption = None,
    aws_calculator_link: _TextOption = None,
    opportunity_id: Annotated[
        str | None, typer.Option("--id", help="Your identifier, echoed in the result.", show_default=False)
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option(help="Read the opportunity from a JSON object; flags override its fields.", show_default=False),
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", help="Batch mode: JSON Lines file, one opportunity per line.", show_default=False),
    ] = None,
    output_path: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Batch mode: JSON Lines file to write, one result per input line.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Estimate MRR, ARR, launch and duration of an opportunity from the most similar delivered projects."""
    out = state.output
    flags = {
        "id": opportunity_id,
        "customer_name": customer_name,
        "region": region,
        "close_date": close_date,
        "opportunity_name": opportunity_name,
        "description": description,
        "industry": industry,
        "customer_segment": customer_segment,
        "partner_name": partner_name,
        "activity_focus": activity_focus,
        "business_description": business_description,
        "migration_phase": migration_phase,
        "salesforce_link": salesforce_link,
        "aws_calculator_link": aws_calculator_link,
    }
    given = {key: value for key, value in flags.items() if value is not None}
    if input_path is not None or output_path is not None:
        if input_path is None or output_path is None:
            raise CliError("invalid_input", "batch mode needs both --input and --output")
        if given or json_file is not None:
            raise CliError(
                "invalid_input",
                "batch mode reads opportunities from --input only; drop the single-opportunity flags",
                {"flags": sorted(given) + (["json_file"] if json_file is not None else [])},
            )
        lines = _read_lines(input_path)
        settings = state.settings()
        ok, failed = run_batch(lines, output_path, _analyzer(settings), out)
        _show_batch_summary(out, input_path, output_path, ok, failed)
        return

    fields = {**_read_json_object(json_file), **given} if json_file is not None else given
    from oppscope.analysis.contracts import Opportunity

    opportunity = Opportunity.model_validate(fields)
    analysis = _analyzer(state.settings())(opportunity)
    if out.json_mode:
        out.model(analysis)
    else:
        _show_analysis(out, analysis)


def _analyzer(settings: Settings) -> Callable[[Opportunity], Analysis]:
    """The engine's analyze, behind the same masking of free text the server applies (``mask_free_text``)."""
    from oppscope.analyses.redaction import mask_opportunity
    from oppscope.engines.loading import prepared_engine

    engine = prepared_engine(settings)
    if not settings.mask_free_text:
        return engine.analyze
    return lambda opportunity: engine.analyze(mask_opportunity(opportunity))


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CliError("file_not_found", f"no such file: {path}", {"path": str(path)}) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError("unreadable_input", f"cannot read {path}: {exc}", {"path": str(path)}) from exc
    except json.JSONDecodeError as exc:
        raise CliError(
            "invalid_json",
            f"{path} is not valid JSON: {exc.msg}",
            {"line": exc.lineno, "column": exc.colno},
        ) from exc
    if not isinstance(data, dict):
        raise CliError("invalid_input", f"{path} must hold one JSON object", {"path": str(path)})
    return data


def _read_lines(path: Path) -> list[bytes]:
    """Split on bytes so a stray encoding error or U+2028 inside a string spoils one line, not the batch.

    Output line N answers input line N, so a blank line inside the file gets an error line of its own; only
    blank lines at the very end (a trailing newline or two) are not input.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise CliError("file_not_found", f"no such file: {path}", {"path": str(path)}) from exc
    except OSError as exc:
        raise CliError("unreadable_input", f"cannot read {path}: {exc}", {"path": str(path)}) from exc
    lines = raw.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def run_batch(
    lines: list[bytes], output_path: Path, analyze_one: Callable[[Opportunity], Analysis], out: Output
) -> tuple[int, int]:
    """Write one result line per input line, atomically: readers see the old file or the complete new one."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    directory = output_path.parent
    if not directory.is_dir():
        raise CliError(
            "directory_not_found",
            f"no such directory: {directory}",
            {"path": str(output_path)},
        )
    ok = failed = 0
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, before the rename
        "w", encoding="utf-8", dir=directory, prefix=f".{output_path.name}.", suffix=".tmp", delete=False
    )
    try:
        with (
            handle,
            Progress(
                TextColumn("analysing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=out.err_console,
            ) as progress,
        ):
            task = progress.add_task("batch", total=len(lines))
            for line in lines:
                result = _analyze_line(line, analyze_one)
                if "error" in result:
                    failed += 1
                else:
                    ok += 1
                handle.write(json.dumps(result, ensure_ascii=False) + "\n")
                handle.flush()
                progress.advance(task)
            os.fsync(handle.fileno())
        Path(handle.name).replace(output_path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return ok, failed


def _analyze_line(line: bytes, analyze_one: Callable[[Opportunity], Analysis]) -> dict[str, Any]:
    from pydantic import ValidationError

    from oppscope.analysis.contracts import Opportunity
    from oppscope.history.store import HistoryError

    if not line.strip():
        return _line_error(None, "empty_line", "the line is empty", {})
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _line_error(None, "invalid_json", f"not valid JSON: {exc}", {})
    if not isinstance(data, dict):
        return _line_error(None, "invalid_input", "each line must be a JSON object", {"type": type(data).__name__})
    raw_id = data.get("id")
    input_id = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    unknown = sorted(key for key in data if key not in Opportunity.model_fields)
    fields = {key: value for key, value in data.items() if key in Opportunity.model_fields}
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        fields["id"] = str(raw_id)  # batch files often number their lines; the model itself takes text only
    try:
        opportunity = Opportunity.model_validate(fields)
    except ValidationError as exc:
        error = invalid_input(exc)
        details = {**error.details, "ignored_fields": unknown} if unknown else error.details
        return _line_error(input_id, error.code, error.message, details)
    try:
        analysis = analyze_one(opportunity)
    except HistoryError as exc:
        return _line_error(input_id, exc.code, exc.message, exc.details)
    except Exception as exc:  # one failing line must not sink the batch; the line says what went wrong
        return _line_error(input_id, "analysis_failed", str(exc) or type(exc).__name__, {"type": type(exc).__name__})
    if unknown:
        analysis.warnings.append(f"ignored unknown input field(s): {', '.join(unknown)}")
    return {"input_id": input_id, "analysis": analysis.model_dump(mode="json")}


def _line_error(input_id: str | int | None, code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"input_id": input_id, **error_body(code, message, details)}


def _show_batch_summary(out: Output, input_path: Path, output_path: Path, ok: int, failed: int) -> None:
    if out.json_mode:
        out.json(
            {
                "input": str(input_path),
                "output": str(output_path),
                "total": ok + failed,
                "ok": ok,
                "errors": failed,
            }
        )
        return
    style = "yellow" if failed else "green"
    out.notice(f"{ok + failed} lines: {ok} ok, {failed} errors → {output_path}", style=style)


def _show_analysis(out: Output, analysis: Analysis) -> None:
    from rich.markup import escape

    from oppscope.analysis.narrative import money, money_range

    p = analysis.predictions
    level = f"{p.interval_level:.0%} interval"
    opp = analysis.input
    out.console.print(
        f"[bold]{escape(opp.opportunity_name)}[/bold] — {escape(opp.customer_name)}, {escape(opp.region)}, "
        f"closing {opp.close_date.isoformat()}"
    )
    out.table(
        "Predictions",
        ("metric", "value", level),
        [
            ("MRR", money(p.mrr.value), money_range(p.mrr.low, p.mrr.high)),
            ("ARR", money(p.arr.value), money_range(p.arr.low, p.arr.high)),
            ("Upfront", money(p.upfront_usd.value), money_range(p.upfront_usd.low, p.upfront_usd.high)),
            _months_row("Time to launch", p.time_to_launch_months),
            _months_row("Project duration", p.project_duration_months),
            ("Launch date", p.launch_date or "not estimated", ""),
            *([("Analogs' stated ARR (median)", money(p.stated_arr_median), "")] if p.stated_arr_median else []),
        ],
        right_align=(1, 2),
    )
    c = analysis.confidence
    out.console.print(f"\n[bold]Confidence:[/bold] {c.level} (score {c.score}/100)")
    for reason in c.reasons:
        out.console.print(f"  • {escape(reason)}")
    out.table(
        "Top services",
        ("service", "monthly", "upfront", "used by"),
        ((s.name, money(s.monthly_usd), money(s.upfront_usd), f"{s.usage_share:.0%}") for s in analysis.top_services),
        right_align=(1, 2, 3),
    )
    out.table(
        "Most similar projects",
        ("customer", "opportunity", "industry", "country", "closed", "ARR", "adjusted ARR", "similarity"),
        (
            (
                s.customer_name,
                s.opportunity_name,
                s.industry,
                s.country,
                s.close_date,
                money(s.arr_usd),
                money(s.adjusted_arr_usd),
                f"{s.similarity:.2f}",
            )
            for s in analysis.similar_projects[:10]
        ),
        right_align=(5, 6, 7),
    )
    sections = analysis.sections
    out.bullets("Findings", sections.findings)
    out.bullets("Rationale", [sections.rationale])
    out.bullets("Risk factors", sections.risk_factors)
    out.bullets("Architecture", (f"{layer}: {text}" for layer, text in sections.architecture.model_dump().items()))
    out.bullets("Funding", (f"{f.program}: {f.justification}" for f in analysis.funding))
    out.bullets(
        "Follow-on opportunities",
        (
            f"{f.project_type}: {f.probability:.0%} likely, about {money(f.expected_arr_usd)} ARR "
            f"{f.expected_months_after_launch:.0f} months after launch"
            for f in analysis.follow_on
        ),
    )
    out.bullets("Methodology", [sections.methodology])
    out.bullets("Validation", sections.validation_notes)
    if analysis.warnings:
        out.bullets("Warnings", analysis.warnings)


def _months_row(label: str, estimate: Estimate | None) -> tuple[str, str, str]:
    from oppscope.analysis.narrative import months, months_range

    if estimate is None:
        return (label, "not estimated", "")
    return (label, months(estimate.value), months_range(estimate.low, estimate.high))
