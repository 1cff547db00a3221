"""``oppscope history``: get delivered projects into the store and see what is there."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import EXIT_FAILURE, CliError, Output

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from oppscope.config import Settings
    from oppscope.history.store import HistoryStats, ImportFormat, ImportReport

app = typer.Typer(help="Import, inspect and sample the history of delivered projects.", no_args_is_help=True)

MAX_ERRORS_SHOWN = 20


class FileFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


_FORMATS: dict[str, ImportFormat] = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}


@app.command("import")
@with_state()
def import_history(
    state: CliState,
    path: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON Lines file.", show_default=False)],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace the whole history instead of appending (the auto-loaded sample is always replaced).",
        ),
    ] = False,
    skip_bad_rows: Annotated[
        bool,
        typer.Option(
            "--skip-bad-rows", help="Import the good rows and report the bad ones (default: refuse the file)."
        ),
    ] = False,
    reject_all_on_error: Annotated[
        bool,
        typer.Option("--reject-all-on-error", help="The default now (kept for scripts): refuse a file with bad rows."),
    ] = False,
    dedupe: Annotated[
        bool,
        typer.Option(
            "--dedupe",
            help="Keep the last row per opportunity id, replacing rows already in the history "
            "(default: refuse duplicate ids).",
        ),
    ] = False,
    fmt: Annotated[
        FileFormat | None,
        typer.Option("--format", help="File format; guessed from the extension when omitted.", show_default=False),
    ] = None,
) -> None:
    """Import projects from a file into a new snapshot; exits 1 when nothing was committed (history unchanged)."""
    out = state.output
    if skip_bad_rows and reject_all_on_error:
        raise CliError("invalid_input", "--skip-bad-rows and --reject-all-on-error contradict each other")
    settings = state.settings()
    from oppscope.engines.loading import import_history

    report = import_history(
        settings,
        path,
        replace=replace,
        on_error="skip" if skip_bad_rows else "reject",
        fmt=_FORMATS[fmt.value] if fmt else None,
        dedupe=dedupe,
    )
    _show_report(out, report)
    if not report.committed or report.rows_imported == 0:
        if not out.json_mode:
            out.notice(report.message or "nothing was imported", style="bold red")
        raise typer.Exit(EXIT_FAILURE)


@app.command("snapshots")
@with_state()
def snapshots(state: CliState) -> None:
    """List the kept history snapshots, oldest first; the last one is current."""
    out = state.output
    from oppscope.wiring import open_services

    with open_services(state.settings()) as services, services.history.writer() as store:
        kept = store.snapshots()
    if out.json_mode:
        out.json({"snapshots": kept, "current": kept[-1] if kept else None})
    else:
        rows = ((s, "yes" if i == len(kept) - 1 else "") for i, s in enumerate(kept))
        out.table("Snapshots", ("snapshot", "current"), rows)


@app.command("rollback")
@with_state()
def rollback(state: CliState) -> None:
    """Make the previous snapshot current again (a running server follows within history_check_seconds)."""
    out = state.output
    from oppscope.wiring import open_services

    with open_services(state.settings()) as services, services.history.writer() as store:
        snapshot = store.rollback()
    if out.json_mode:
        out.json({"snapshot_id": snapshot})
    else:
        out.console.print(f"the history is back at snapshot {snapshot}")


@app.command("stats")
@with_state()
def stats(state: CliState) -> None:
    """Summarise the history: size, date range, ARR and the most common categories."""
    out = state.output
    settings = state.settings()
    from oppscope.wiring import open_services

    with open_services(settings) as services, services.history.reader() as store:
        summary = store.stats()
    if out.json_mode:
        out.model(summary)
    else:
        _show_stats(out, summary)


@app.command("sample")
@with_state()
def sample(
    state: CliState,
    rows: Annotated[
        int | None,
        typer.Option("--rows", help="Rows to generate (default: the sample_rows setting).", show_default=False),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Generator seed (default: the sample_seed setting).", show_default=False),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the history instead of appending.")] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write the sample to this file (.csv, .parquet or .jsonl) instead of loading it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Generate the reproducible sample history and load it into the store, or export it to a file."""
    out = state.output
    if rows is not None and rows < 1:
        raise CliError("invalid_input", "--rows must be at least 1", {"rows": rows})
    if export is not None and replace:
        raise CliError("invalid_input", "--replace only applies when loading into the store")
    export_format = None if export is None else _format_from_extension(export)
    settings = state.settings()
    count, chosen_seed = rows or settings.sample_rows, settings.sample_seed if seed is None else seed
    if export is not None and export_format is not None:
        from oppscope.history.sample import generate_sample

        _export_rows(out, generate_sample(count, chosen_seed).rows, export, export_format)
    else:
        _load_sample(out, settings, count, chosen_seed, replace=replace)


def _export_rows(out: Output, rows: Sequence[Mapping[str, Any]], path: Path, fmt: ImportFormat) -> None:
    from oppscope.history.export import write_rows

    write_rows(rows, path, fmt)
    if out.json_mode:
        out.json({"path": str(path), "format": fmt, "rows": len(rows)})
    else:
        out.console.print(f"wrote {len(rows):,} sample rows to {path} ({fmt})")


def _load_sample(out: Output, settings: Settings, rows: int, seed: int, *, replace: bool) -> None:
    from oppscope.engines.loading import load_sample
    from oppscope.wiring import open_services

    with open_services(settings) as services, services.history.writer() as store:
        report = load_sample(store, settings, rows, seed, replace=replace)
    _show_report(out, report)


def _format_from_extension(path: Path) -> ImportFormat:
    from oppscope.history.store import format_for_path

    fmt = format_for_path(path)
    if not path.parent.is_dir():
        raise CliError("directory_not_found", f"no such directory: {path.parent}", {"path": str(path)})
    return fmt


def _show_report(out: Output, report: ImportReport) -> None:
    if out.json_mode:
        out.model(report)
        return
    out.key_values(
        f"Import of {report.source}",
        [
            ("format", report.format),
            ("rows read", report.rows_read),
            ("rows imported", report.rows_imported),
            ("rows rejected", report.rows_rejected),
            *((("duplicates merged", report.rows_deduplicated),) if report.rows_deduplicated else ()),
            ("replaced history", "yes" if report.replaced else "no"),
            ("committed", "yes" if report.committed else "no"),
            ("snapshot", report.snapshot_id),
        ],
    )
    if report.errors:
        shown = report.errors[:MAX_ERRORS_SHOWN]
        out.table(
            "Row errors",
            ("row", "column", "reason", "value"),
            ((e.row, e.column, e.reason, e.value) for e in shown),
            right_align=(0,),
        )
        hidden = len(report.errors) - len(shown)
        if hidden > 0 or report.errors_truncated:
            out.console.print(f"… more errors not shown{f' ({hidden} listed in --json)' if hidden > 0 else ''}")
    if report.warnings:
        out.table(
            "Warnings (imported anyway)",
            ("row", "column", "reason", "value"),
            ((w.row, w.column, w.reason, w.value) for w in report.warnings[:MAX_ERRORS_SHOWN]),
            right_align=(0,),
        )
        if len(report.warnings) > MAX_ERRORS_SHOWN or report.warnings_truncated:
            out.console.print("… more warnings not shown (see --json)")


def _show_stats(out: Output, summary: HistoryStats) -> None:
    from oppscope.analysis.narrative import money

    arr = summary.arr_usd
    arr_range = (arr.min, arr.median, arr.max)
    out.key_values(
        "History",
        [
            ("rows", f"{summary.rows:,}"),
            ("snapshot", summary.snapshot_id),
            ("customers", f"{summary.customers:,}"),
            ("customers with several projects", f"{summary.multi_project_customers:,}"),
            ("close dates", f"{summary.close_date_min or '-'} … {summary.close_date_max or '-'}"),
            ("ARR min / median / max (USD)", " / ".join(money(v) if v is not None else "-" for v in arr_range)),
        ],
    )
    for title, counts in (
        ("Segments", summary.segments),
        ("Industries", summary.industries),
        ("Countries", summary.countries),
        ("Project types", summary.project_types),
        ("Top services", summary.top_services),
    ):
        _show_counts(out, title, counts)


def _show_counts(out: Output, title: str, counts: Mapping[str, int], limit: int = 10) -> None:
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    out.table(title, ("value", "rows"), ((name, f"{n:,}") for name, n in top), right_align=(1,))
