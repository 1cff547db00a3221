"""Hold-out run through the command line, the way an outside evaluator would use oppscope.

Generates a history and the later opportunities that follow it, writes the history as CSV in the original
schema and the opportunities as JSON Lines, then runs the real commands in a fresh data directory:

    oppscope history import history.csv
    oppscope analyze --input opportunities.jsonl --output results.jsonl

once per input pattern (the opportunities restated with only the five required fields; with the customer's
profile; with every field), and scores each against what actually happened, against the generator's
noise-free truth and against the plain scikit-learn reference fitted on the same history in the same pattern.

    .venv/bin/python benchmarks/holdout.py [--history 20000] [--opportunities 500] [--seed 99]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.patterns import PATTERNS, Pattern
from oppscope.analysis.reference import reference_inputs, reference_predict
from oppscope.history.export import write_rows
from oppscope.history.sample import generate_sample, row_as_request
from oppscope.history.schema import DAYS_PER_MONTH


def _actual(row: dict[str, Any]) -> tuple[float, float]:
    slots = [k for k in row if k.startswith("monthly $ ")]
    arr = 12 * sum(row[k] or 0.0 for k in slots) + sum(row[k.replace("monthly", "upfront")] or 0.0 for k in slots)
    close = datetime.fromtimestamp(row["close_date"], tz=UTC).date()
    start = date.fromisoformat(row["planned_delivery_start_date"])
    return arr, (start - close).days / DAYS_PER_MONTH


def _run(*args: str) -> float:
    t0 = time.perf_counter()
    # The installed console script, exactly what a user runs.
    command = Path(sys.executable).with_name("oppscope")
    subprocess.run([str(command), *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _restated(row: dict[str, Any], pattern: Pattern) -> dict[str, Any]:
    body = row_as_request(row)
    return {k: v for k, v in body.items() if k not in _OPTIONAL or k in pattern.fields}


_OPTIONAL = {"industry", "customer_segment", "partner_name", "activity_focus", "business_description",
             "migration_phase"}


def _reference(history: list[dict[str, Any]], later: list[dict[str, Any]], pattern: Pattern) -> dict[str, Any]:
    """The plain reference on the same history, restated in the same pattern (timed: features and fits)."""
    train = [Opportunity.model_validate(_restated(r, pattern)) for r in history]
    test = [Opportunity.model_validate(_restated(r, pattern)) for r in later]
    arr, ttl = np.array([_actual(r) for r in history]).T
    t0 = time.perf_counter()
    pred = reference_predict(reference_inputs(train), arr, ttl, reference_inputs(test))
    return {"pred": pred, "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--opportunities", type=int, default=500)
    parser.add_argument("--seed", type=int, default=99)
    args = parser.parse_args()

    sample = generate_sample(args.history + args.opportunities, args.seed)
    order = np.argsort([r["close_date"] for r in sample.rows], kind="stable")
    rows = [sample.rows[i] for i in order]
    truth = {t.opportunity_id: t for t in sample.truth}
    history, later = rows[: args.history], rows[args.history :]
    actual = np.array([_actual(r) for r in later])
    best = np.array([
        (math.exp(truth[r["opportunity_18_character_oppty_id"]].log_arr_median),
         truth[r["opportunity_18_character_oppty_id"]].ttl_months_median) for r in later
    ])

    results: dict[str, list[dict[str, Any]]] = {}
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="oppscope-holdout-") as tmp:
        work = Path(tmp)
        write_rows(history, work / "history.csv", "csv")
        data = ["--data-dir", str(work / "data")]
        times["import"] = _run(*data, "history", "import", str(work / "history.csv"))
        for pattern in PATTERNS:
            source, target = work / f"{pattern.name}.jsonl", work / f"{pattern.name}-results.jsonl"
            source.write_text("".join(json.dumps(_restated(r, pattern)) + "\n" for r in later))
            times[pattern.name] = _run(*data, "analyze", "--input", str(source), "--output", str(target))
            results[pattern.name] = [json.loads(line) for line in target.read_text().splitlines()]

    print(f"history {args.history:,} rows, {len(later)} later opportunities restated in each input pattern")
    print(f"{'pattern':<10}{'method':<12}{'ARR MdAPE':>10}{'vs best':>9}{'ARR cov':>9}{'TTL MAE':>9}{'vs best':>9}"
          f"{'TTL cov':>9}{'HIGH/MED/LOW MdAPE, ARR cov (n)':>68}{'rejected':>10}")
    best_ape = np.median(np.abs(best[:, 0] - actual[:, 0]) / actual[:, 0])
    best_ttl = np.mean(np.abs(best[:, 1] - actual[:, 1]))
    for pattern in PATTERNS:
        ok = [i for i, r in enumerate(results[pattern.name]) if "analysis" in r]
        preds = [results[pattern.name][i]["analysis"] for i in ok]
        arr = np.array([[p["predictions"]["arr"][k] for k in ("value", "low", "high")] for p in preds])
        ttl = np.array([[p["predictions"]["time_to_launch_months"][k] for k in ("value", "low", "high")]
                        for p in preds])
        levels = np.array([p["confidence"]["level"] for p in preds])
        ref = _reference(history, later, pattern)
        ref_arr = np.column_stack([ref["pred"]["arr"].value, ref["pred"]["arr"].low, ref["pred"]["arr"].high])[ok]
        ref_ttl = np.column_stack([ref["pred"]["ttl"].value, ref["pred"]["ttl"].low, ref["pred"]["ttl"].high])[ok]
        a = actual[ok]
        for method, m_arr, m_ttl in (("oppscope", arr, ttl), ("reference", ref_arr, ref_ttl)):
            ape = np.abs(m_arr[:, 0] - a[:, 0]) / a[:, 0]
            by_level = "-"
            if method == "oppscope":
                inside = (m_arr[:, 1] <= a[:, 0]) & (a[:, 0] <= m_arr[:, 2])
                by_level = " / ".join(
                    f"{np.median(ape[chosen]):.1%} cov {np.mean(inside[chosen]):.0%} ({chosen.sum()})"
                    if (chosen := levels == lv).any() else "-"
                    for lv in ("HIGH", "MEDIUM", "LOW")
                )
            ttl_mae = np.mean(np.abs(m_ttl[:, 0] - a[:, 1]))
            print(
                f"{pattern.name:<10}{method:<12}{np.median(ape):>10.1%}{np.median(ape) / best_ape:>8.2f}x"
                f"{np.mean((m_arr[:, 1] <= a[:, 0]) & (a[:, 0] <= m_arr[:, 2])):>9.1%}{ttl_mae:>9.2f}"
                f"{ttl_mae / best_ttl:>8.2f}x{np.mean((m_ttl[:, 1] <= a[:, 1]) & (a[:, 1] <= m_ttl[:, 2])):>9.1%}"
                f"{by_level:>68}{len(later) - len(ok) if method == 'oppscope' else 0:>10}"
            )
    print(f"best achievable: ARR MdAPE {best_ape:.1%}, TTL MAE {best_ttl:.2f} months")
    print(f"import {times['import']:.1f} s; analyze (first run fits the engine) "
          + ", ".join(f"{p.name} {times[p.name]:.1f} s" for p in PATTERNS))


if __name__ == "__main__":
    main()
