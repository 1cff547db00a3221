"""Engine benchmark: analysis latency, fit time, import speed and memory at 1k, 10k and 100k history rows.

In the same run and on the same DuckDB table it times the original system's retrieval (its keyword
relevance-score SQL, top 200 rows) for the same opportunities, so the two can be compared directly.

    .venv/bin/python benchmarks/engine.py [--sizes 1000,10000,100000] [--queries 300] [--json]

``--fit-vs-reference`` instead measures only the fit, each size in a fresh process: the engine's fit time and
peak memory (sampled RSS during the fit, above the process before it) beside the plain scikit-learn
reference's feature building and fits (with and without its out-of-fold intervals) on the same history:

    .venv/bin/python benchmarks/engine.py --fit-vs-reference --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import threading
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
from oppscope.analysis.reference import reference_inputs, reference_predict
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


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def _peak_during(action: Callable[[], T]) -> tuple[T, float, float]:
    """(result, seconds, peak RSS in MB above the RSS before), RSS sampled every 20 ms."""
    base, peak, done = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss_mb())

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - t0
    done.set()
    watcher.join()
    return result, seconds, max(peak[0], _rss_mb()) - base


def fit_versus_reference(rows: int, workdir: Path) -> dict[str, Any]:
    """Engine fit and the reference's features + fits on the same history, in this (fresh) process."""
    sample = generate_sample(rows, seed=7)
    csv_path = workdir / f"history-{rows}.csv"
    write_rows(sample.rows, csv_path, "csv")
    del sample
    with DuckDBHistoryStore(workdir / f"history-{rows}.duckdb") as store:
        store.import_file(csv_path)
        history = history_from_columns(store.fetch_columns())
    gc.collect()
    before = _rss_mb()
    engine, fit_s, fit_mb = _peak_during(lambda: Engine.fit(history, "bench", EngineConfig()))
    print(f"fit {fit_s:.1f} s, peak +{fit_mb:.0f} MB above {before:.0f} MB", file=sys.stderr, flush=True)
    del engine
    gc.collect()
    opportunities = [history_row_as_opportunity(history, i) for i in range(history.n)]
    outcomes = (history.arr, history.ttl_months)
    test = reference_inputs(opportunities[:100])

    def reference(intervals: bool) -> object:
        return reference_predict(reference_inputs(opportunities), *outcomes, test, intervals=intervals)

    _, plain_s, _ = _peak_during(lambda: reference(False))
    print(f"reference features + fits {plain_s:.1f} s", file=sys.stderr, flush=True)
    _, full_s, _ = _peak_during(lambda: reference(True))
    return {
        "history_rows": rows,
        "fit_s": round(fit_s, 1),
        "fit_peak_mb_above_start": round(fit_mb),
        "process_rss_before_fit_mb": round(before),
        "reference_features_and_fits_s": round(plain_s, 1),
        "reference_with_oof_intervals_s": round(full_s, 1),
        "fit_over_reference": round(fit_s / plain_s, 2),
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _fit_versus_reference_main(sizes: list[int], as_json: bool) -> None:
    """Each size in a child process, so one size's memory does not hide the next one's."""
    results = []
    for size in sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--fit-vs-reference-child", str(size)], check=True, stdout=subprocess.PIPE,
            text=True,
        )
        result = json.loads(child.stdout)
        results.append(result)
        if not as_json:
            print(
                f"{size:>8} rows | fit {result['fit_s']:6.1f} s, peak +{result['fit_peak_mb_above_start']:>5} MB "
                f"(process {result['process_peak_rss_mb']} MB) | reference features + fits "
                f"{result['reference_features_and_fits_s']:6.1f} s, with OOF intervals "
                f"{result['reference_with_oof_intervals_s']:6.1f} s | "
                f"fit / reference {result['fit_over_reference']:.2f}x",
                flush=True,
            )
    if as_json:
        json.dump(results, sys.stdout, indent=2)
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--fit-vs-reference", action="store_true")
    parser.add_argument("--fit-vs-reference-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_vs_reference_child:
        with tempfile.TemporaryDirectory(prefix="oppscope-bench-") as tmp:
            print(json.dumps(fit_versus_reference(args.fit_vs_reference_child, Path(tmp))))
        return
    if args.fit_vs_reference:
        _fit_versus_reference_main([int(s) for s in args.sizes.split(",")], args.json)
        return
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
