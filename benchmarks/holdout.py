"""Hold-out run through the command line, the way an outside evaluator would use oppscope.

Generates a history and the later opportunities that follow it, writes the history as CSV in the original
schema and the opportunities as JSON Lines, then runs the real commands in a fresh data directory:

    oppscope history import history.csv
    oppscope analyze --input opportunities.jsonl --output results.jsonl

and scores the results against what actually happened (and against the generator's noise-free truth).

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

    with tempfile.TemporaryDirectory(prefix="oppscope-holdout-") as tmp:
        work = Path(tmp)
        write_rows(history, work / "history.csv", "csv")
        (work / "opportunities.jsonl").write_text("".join(json.dumps(row_as_request(r)) + "\n" for r in later))
        data = ["--data-dir", str(work / "data")]
        import_s = _run(*data, "history", "import", str(work / "history.csv"))
        analyze_s = _run(
            *data, "analyze", "--input", str(work / "opportunities.jsonl"), "--output", str(work / "results.jsonl")
        )
        results = [json.loads(line) for line in (work / "results.jsonl").read_text().splitlines()]

    rejected = sum("error" in r for r in results)
    ape, inside, ttl_err, best_ape, best_ttl = [], [], [], [], []
    for row, result in zip(later, results, strict=True):
        if "analysis" not in result:
            continue
        p = result["analysis"]["predictions"]
        arr, ttl = _actual(row)
        t = truth[row["opportunity_18_character_oppty_id"]]
        ape.append(abs(p["arr"]["value"] - arr) / arr)
        inside.append(p["arr"]["low"] <= arr <= p["arr"]["high"])
        ttl_err.append(abs(p["time_to_launch_months"]["value"] - ttl))
        best_ape.append(abs(math.exp(t.log_arr_median) - arr) / arr)
        best_ttl.append(abs(t.ttl_months_median - ttl))
    print(f"history {args.history:,} rows, {len(later)} later opportunities, {rejected} rejected")
    print(f"ARR MdAPE {np.median(ape):.1%} (best achievable {np.median(best_ape):.1%}), "
          f"80% interval coverage {np.mean(inside):.1%}")
    print(f"time-to-launch MAE {np.mean(ttl_err):.2f} months (best achievable {np.mean(best_ttl):.2f})")
    print(f"import {import_s:.1f} s, analyze (fit + {len(results)} analyses) {analyze_s:.1f} s")


if __name__ == "__main__":
    main()
