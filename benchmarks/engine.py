"""Engine benchmark: analysis latency, fit time, import speed and memory at 1k, 10k and 100k history rows.

In the same run and on the same DuckDB table it times the original system's retrieval (its keyword
relevance-score SQL, top 200 rows) for the same opportunities, so the two can be compared directly.

    .venv/bin/python benchmarks/engine.py [--sizes 1000,10000,100000] [--queries 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from oppscope.analysis.dataset import history_from_columns
from oppscope.analysis.engine import Engine, EngineConfig
from oppscope.analysis.models import Opportunity
from oppscope.analysis.original_sql import relevance_sql_duckdb
from oppscope.analysis.resolve import history_row_as_opportunity
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.export import write_rows
from oppscope.history.sample import generate_sample

FUTURE_CLOSE = date(2026, 3, 1)
T = TypeVar("T")


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean())}


def _opportunities(engine: Engine, count: int, seed: int) -> list[Opportunity]:
    rng = np.random.default_rng(seed)
    rows = rng.choice(engine.history.n, size=min(count, engine.history.n), replace=False)
    return [
        history_row_as_opportunity(engine.history, int(i)).model_copy(update={"close_date": FUTURE_CLOSE, "id": None})
        for i in rows
    ]


def _timed(action: Callable[[T], object], items: Sequence[T]) -> list[float]:
    """Seconds each call took."""
    times = []
    for item in items:
        t0 = time.perf_counter()
        action(item)
        times.append(time.perf_counter() - t0)
    return times


def run_size(rows: int, queries: int, workdir: Path) -> dict[str, Any]:
    sample = generate_sample(rows, seed=7)
    csv_path = workdir / f"history-{rows}.csv"
    write_rows(sample.rows, csv_path, "csv")
    with DuckDBHistoryStore(workdir / f"history-{rows}.duckdb") as store:
        (import_s,) = _timed(store.import_file, [csv_path])
        history = history_from_columns(store.fetch_columns())
        t0 = time.perf_counter()
        engine = Engine.fit(history, store.snapshot_id(), EngineConfig())
        fit_s = time.perf_counter() - t0

        opportunities = _opportunities(engine, queries, seed=rows)
        _timed(engine.analyze, opportunities[:10])  # warm caches, as a running service would be
        analysis_times = _timed(engine.analyze, opportunities)
        # The SQL is written before the clock starts: only DuckDB's execution is compared.
        statements = [relevance_sql_duckdb(o) for o in opportunities[: max(50, queries // 3)]]
        sql_times = _timed(store.query, statements)
    analysis = _percentiles(analysis_times)
    original = _percentiles(sql_times)
    return {
        "history_rows": rows,
        "import_rows_per_s": round(history.n / import_s),
        "fit_s": round(fit_s, 2),
        "analysis": analysis,
        "original_relevance_sql": original,
        "speedup_p50": round(original["p50_ms"] / analysis["p50_ms"], 1),
        "speedup_p95": round(original["p95_ms"] / analysis["p95_ms"], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "queries": len(analysis_times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="oppscope-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            result = run_size(size, args.queries, Path(tmp))
            results.append(result)
            if not args.json:
                a, o = result["analysis"], result["original_relevance_sql"]
                print(
                    f"{size:>7} rows | analysis p50 {a['p50_ms']:6.2f} ms p95 {a['p95_ms']:6.2f} ms | "
                    f"original SQL p50 {o['p50_ms']:7.2f} ms p95 {o['p95_ms']:7.2f} ms | "
                    f"speed-up p95 {result['speedup_p95']:5.1f}x | fit {result['fit_s']:6.2f} s | "
                    f"import {result['import_rows_per_s']:>8,} rows/s | peak RSS {result['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()


if __name__ == "__main__":
    main()
