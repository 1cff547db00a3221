"""``oppscope backtest``: how well the engine would have predicted projects it has not seen."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import CliError

if TYPE_CHECKING:
    from oppscope.config import Settings

SAVED_ANALYSES_READ = 2000  # the most recent ones: enough to tell how sellers fill in the form


def saved_pattern_counts(settings: Settings, usual: frozenset[str]) -> dict[str, int] | None:
    """How many of the most recent saved analyses' inputs fall in each input pattern (None: no state database).

    A read of the analyses store, newest first, so the backtest can weigh its patterns by what sellers send.
    """
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from oppscope.analyses.sql_store import SqlAnalysisStore
    from oppscope.analyses.store import AnalysisQuery
    from oppscope.analysis.contracts import Opportunity
    from oppscope.analysis.patterns import PATTERNS, pattern_for, stated_fields
    from oppscope.state.db import open_state

    if settings.state_url is None and not settings.state_path.exists():
        return None
    state = open_state(settings)
    try:
        store = SqlAnalysisStore(state)
        counts: Counter[str] = Counter({p.name: 0 for p in PATTERNS})
        offset = 0
        while offset < SAVED_ANALYSES_READ:
            page = store.list(AnalysisQuery(limit=200, offset=offset))
            for item in page.items:
                saved = store.get(item.id)
                if saved is not None:
                    opportunity = Opportunity.model_validate(saved.analysis["input"])
                    counts[pattern_for(stated_fields(opportunity), usual).name] += 1
            offset += len(page.items)
            if not page.items or offset >= page.total:
                break
        return dict(counts)
    except (SQLAlchemyError, ValidationError):  # an unmigrated state database: nothing to count
        return None
    finally:
        state.dispose()


@with_state()
def backtest(
    state: CliState,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the most recent projects held out and predicted (0.05 to 0.5).")
    ] = 0.2,
) -> None:
    """Hold out the latest projects, predict them from the rest, report the errors and interval coverage."""
    out = state.output
    from oppscope.analysis.backtest import MAX_TEST_FRACTION, MIN_TEST_FRACTION
    from oppscope.engines.loading import prepare_history, run_backtest

    if not MIN_TEST_FRACTION <= test_fraction <= MAX_TEST_FRACTION:
        raise CliError(
            "invalid_input",
            f"--test-fraction must be between {MIN_TEST_FRACTION} and {MAX_TEST_FRACTION}",
            {"test_fraction": test_fraction},
        )
    settings = state.settings()

    prepare_history(settings)
    report = run_backtest(settings, test_fraction=test_fraction)
    report.pattern_counts = saved_pattern_counts(settings, frozenset(report.usual_fields))
    if out.json_mode:
        out.model(report)
    else:
        typer.echo(report.render_text())
