"""Engine benchmark: analysis latency, fit time, import speed and memory at 1k, 10k and 100k history rows.

In the same run and on the same DuckDB table it times the original system's retrieval (its keyword
relevance-score SQL, top 200 rows) for the same opportunities, so the two can be compared directly.

``--serving`` measures the model as servers use it instead: the fit (in a child process, as a server fits), its
peak memory, the model's size on disk, the time to load it (memory-mapped) and the analysis latency on the
loaded model, then each worker's own memory in a real ``oppscope serve --workers 2`` after a burst of analyses.
``--switches N`` imports N new histories under a running two-worker server and reports how long each switch
took and each worker's memory after it.

    .venv/bin/python benchmarks/engine.py [--sizes 1000,10000,100000] [--queries 300] [--json]

``--fit-vs-reference`` instead measures only the fit, each size in a fresh process: the engine's fit time and
peak memory (sampled RSS during the fit, above the process before it) beside the plain scikit-learn
reference's feature building and fits (time and peak memory the same way; also with its out-of-fold intervals)
on the same history:

    .venv/bin/python benchmarks/engine.py --fit-vs-reference --sizes 100000,1000000
    .venv/bin/python benchmarks/engine.py --serving [--sizes 10000,100000,1000000]
    .venv/bin/python benchmarks/engine.py --switches 12 [--sizes 10000]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts a script's own directory first on sys.path, where benchmarks/http.py would shadow the standard
# library's ``http`` (which httpx needs): move benchmarks/ to the end, as benchmarks/http.py does.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import ctypes
import gc
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, TypeVar

import httpx
import numpy as np

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import history_from_columns
from oppscope.analysis.engine import Engine, EngineConfig
from oppscope.analysis.original_sql import relevance_sql_duckdb
from oppscope.analysis.reference import reference_inputs, reference_predict
from oppscope.analysis.resolve import history_row_as_opportunity
from oppscope.config import Settings, load_settings
from oppscope.engines import procfs
from oppscope.engines.cache import FileModelCache
from oppscope.engines.interfaces import Published
from oppscope.engines.loading import load_sample
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.export import write_rows
from oppscope.history.factory import open_history_store
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


def _release_freed_memory() -> None:
    """Give the heap's freed pages back to the system, so that the next measurement starts from what is live
    (glibc keeps freed memory for reuse, which would let the second of two measured steps look smaller)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def fit_versus_reference(rows: int, workdir: Path) -> dict[str, Any]:
    """Engine fit and the reference's features + fits on the same history, in this (fresh) process."""
    sample = generate_sample(rows, seed=7)
    csv_path = workdir / f"history-{rows}.csv"
    write_rows(sample.rows, csv_path, "csv")
    del sample
    with DuckDBHistoryStore(workdir / f"history-{rows}.duckdb") as store:
        store.import_file(csv_path)
        history = history_from_columns(store.fetch_columns())
    opportunities = [history_row_as_opportunity(history, i) for i in range(history.n)]
    outcomes = (history.arr, history.ttl_months)
    test = reference_inputs(opportunities[:100])
    _release_freed_memory()
    before = _rss_mb()
    engine, fit_s, fit_mb = _peak_during(lambda: Engine.fit(history, "bench", EngineConfig()))
    print(f"fit {fit_s:.1f} s, peak +{fit_mb:.0f} MB above {before:.0f} MB", file=sys.stderr, flush=True)
    del engine

    def reference(intervals: bool) -> object:
        return reference_predict(reference_inputs(opportunities), *outcomes, test, intervals=intervals)

    _release_freed_memory()
    _, plain_s, plain_mb = _peak_during(lambda: reference(False))
    print(f"reference features + fits {plain_s:.1f} s, peak +{plain_mb:.0f} MB", file=sys.stderr, flush=True)
    _, full_s, _ = _peak_during(lambda: reference(True))
    return {
        "history_rows": rows,
        "fit_s": round(fit_s, 1),
        "fit_peak_mb_above_start": round(fit_mb),
        "process_rss_before_fit_mb": round(before),
        "reference_features_and_fits_s": round(plain_s, 1),
        "reference_peak_mb_above_start": round(plain_mb),
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
                f"{result['reference_features_and_fits_s']:6.1f} s, "
                f"peak +{result['reference_peak_mb_above_start']:>5} MB, with OOF intervals "
                f"{result['reference_with_oof_intervals_s']:6.1f} s | "
                f"fit / reference {result['fit_over_reference']:.2f}x",
                flush=True,
            )
    if as_json:
        json.dump(results, sys.stdout, indent=2)
        print()
# --- serving: the model as server workers share it ---------------------------------------------------------


def _serving_settings(workdir: Path, rows: int) -> Settings:
    return load_settings(data_dir=workdir / f"serving-{rows}", sample_rows=min(rows, 1_000_000))


def _fit_in_child(settings: Settings) -> tuple[float, float, Published]:
    """Fit as a server does (``fit_process``); seconds, the child's peak RSS in MB, and what it fitted.

    The peak is the child's own high-water mark, read every 20 ms until it exits (``procfs.peak_rss_mb``; the
    ``ru_maxrss`` of ``wait4`` would include this process's peak from generating the rows)."""
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "oppscope.engines.fit_process"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    peak = [0]

    def watch() -> None:
        while child.poll() is None:
            try:
                peak[0] = max(peak[0], procfs.peak_rss_mb(child.pid))
            except (OSError, ValueError):
                return  # exited between the check and the read
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    child.stdin.write(settings.model_dump_json())
    child.stdin.close()
    out = child.stdout.read()
    child.wait()
    watcher.join()
    seconds = time.perf_counter() - t0
    if child.returncode != 0:
        raise RuntimeError(f"fit failed: {out[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return seconds, float(peak[0]), Published(result["model_id"], result["snapshot_id"])


def measure_load(data_dir: Path, model: str, queries: int) -> dict[str, Any]:
    """In a fresh process (``--measure-load``): load the saved model, then analyse with it."""
    t0 = time.perf_counter()
    engine = FileModelCache(data_dir / "models").load(model)
    load_s = time.perf_counter() - t0
    assert engine is not None, "the model did not load"
    opportunities = _opportunities(engine, queries, seed=1)
    _timed(engine.analyze, opportunities[:10])
    analysis = _percentiles(_timed(engine.analyze, opportunities))
    return {"load_s": round(load_s, 2), "analysis": analysis, "memory": procfs.memory_mb(os.getpid())}


def _serve(settings: Settings, port: int, check_seconds: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPPSCOPE_SAMPLE_ROWS": str(settings.sample_rows),
           "OPPSCOPE_HISTORY_CHECK_SECONDS": str(check_seconds), "OPPSCOPE_RATE_LIMIT_PER_MINUTE": "1000000",
           "OPPSCOPE_RATE_LIMIT_BURST": "100000"}
    oppscope = str(Path(sys.executable).parent / "oppscope")
    subprocess.run([oppscope, "db", "upgrade", "--data-dir", str(settings.data_dir)], check=True, env=env,
                   capture_output=True)
    server = subprocess.Popen([oppscope, "serve", "--data-dir", str(settings.data_dir), "--port", str(port),
                               "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 600
    while len(procfs.children(server.pid)) < 2 or not _answers(f"http://127.0.0.1:{port}/health/ready"):
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not become ready")
        time.sleep(0.5)
    return server


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def _analyze_over_http(url: str, i: int) -> tuple[float, str]:
    body = {"customer_name": f"Bench Customer {i % 37}", "region": ["Germany", "us-east-1", "Japan"][i % 3],
            "close_date": "2026-03-31", "opportunity_name": f"Migration wave {i}",
            "description": f"Move {10 + i % 200} servers and {i % 9} databases to managed services"}
    t0 = time.perf_counter()
    answer = httpx.post(f"{url}/api/v1/analyses", json=body, timeout=120, headers={"Connection": "close"})
    answer.raise_for_status()
    return time.perf_counter() - t0, answer.json()["provenance"]["history_snapshot_id"]


def _stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


def run_serving(rows: int, queries: int, workdir: Path) -> dict[str, Any]:
    settings = _serving_settings(workdir, rows)
    with open_history_store(settings) as store:
        load_sample(store, settings, rows, seed=7, replace=True)
    fit_s, fit_peak_mb, published = _fit_in_child(settings)
    cache = FileModelCache(settings.model_cache_dir)
    cache.publish(published)
    model_dir = settings.model_cache_dir / published.model_id
    size_mb = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file()) / 2**20
    child = subprocess.run([sys.executable, __file__, "--measure-load", str(settings.data_dir), published.model_id,
                            "--queries", str(queries)], check=True, capture_output=True, text=True)
    loaded = json.loads(child.stdout)
    port = _free_port()
    server = _serve(settings, port, check_seconds=3600)
    try:
        with ThreadPoolExecutor(4) as pool:
            http = list(pool.map(lambda i: _analyze_over_http(f"http://127.0.0.1:{port}", i)[0], range(queries)))
        workers = [procfs.memory_mb(pid) for pid in procfs.children(server.pid)]
    finally:
        _stop(server)
    return {"history_rows": rows, "fit_s": round(fit_s, 1), "fit_peak_mb": round(fit_peak_mb),
            "model_mb": round(size_mb), "load_s": loaded["load_s"], "analysis": loaded["analysis"],
            "loaded_process": loaded["memory"], "http": _percentiles(http), "workers": workers}


def run_switches(rows: int, switches: int, workdir: Path) -> list[dict[str, Any]]:
    """Import ``switches`` new histories (same size, another seed) under a two-worker server; per switch: the
    seconds from the import's end to the first answer from the new snapshot, and to both workers holding only
    the new model, and each worker's memory then."""
    settings = _serving_settings(workdir, rows)
    with open_history_store(settings) as store:
        load_sample(store, settings, rows, seed=0, replace=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(settings, port, check_seconds=1)
    oppscope = str(Path(sys.executable).parent / "oppscope")
    results = []
    try:
        workers = procfs.children(server.pid)
        results.append({"switch": 0, "workers": [procfs.memory_mb(pid) for pid in workers]})
        for n in range(1, switches + 1):
            old = _analyze_over_http(url, n)[1]
            subprocess.run([oppscope, "history", "sample", "--rows", str(rows), "--seed", str(n), "--replace",
                            "--data-dir", str(settings.data_dir)], check=True, capture_output=True)
            imported = time.perf_counter()
            while _analyze_over_http(url, n)[1] == old:
                time.sleep(0.05)
            first_new = time.perf_counter() - imported
            published = FileModelCache(settings.model_cache_dir).published()
            assert published is not None
            while any(procfs.mapped_models(pid, settings.model_cache_dir) - {published.model_id} for pid in workers):
                time.sleep(0.05)
            results.append({"switch": n, "first_new_answer_s": round(first_new, 2),
                            "all_workers_s": round(time.perf_counter() - imported, 2),
                            "workers": [procfs.memory_mb(pid) for pid in workers]})
    finally:
        _stop(server)
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _print_serving(results: list[dict[str, Any]]) -> None:
    print(f"{'rows':>9} {'fit s':>7} {'fit peak MB':>11} {'model MB':>9} {'load s':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'HTTP p95':>9}  per worker RSS / PSS / USS / anon MB")
    for r in results:
        workers = "   ".join(f"{w['rss_mb']}/{w['pss_mb']}/{w['uss_mb']}/{w['anon_mb']}" for w in r["workers"])
        print(f"{r['history_rows']:>9,} {r['fit_s']:>7.1f} {r['fit_peak_mb']:>11,} {r['model_mb']:>9,} "
              f"{r['load_s']:>7.2f} {r['analysis']['p50_ms']:>7.2f} {r['analysis']['p95_ms']:>7.2f} "
              f"{r['http']['p95_ms']:>9.1f}  {workers}", flush=True)


def _print_switches(results: list[dict[str, Any]]) -> None:
    print(f"{'switch':>6} {'first new s':>11} {'all workers s':>13}  per worker RSS / PSS / USS / anon MB")
    for r in results:
        workers = "   ".join(f"{w['rss_mb']}/{w['pss_mb']}/{w['uss_mb']}/{w['anon_mb']}" for w in r["workers"])
        print(f"{r['switch']:>6} {r.get('first_new_answer_s', 0):>11.2f} {r.get('all_workers_s', 0):>13.2f}  "
              f"{workers}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=None)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--fit-vs-reference", action="store_true")
    parser.add_argument("--fit-vs-reference-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serving", action="store_true", help="fit, model size, load and worker memory")
    parser.add_argument("--switches", type=int, default=0, help="history switches under a two-worker server")
    parser.add_argument("--measure-load", nargs=2, metavar=("DATA_DIR", "MODEL_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_vs_reference_child:
        with tempfile.TemporaryDirectory(prefix="oppscope-bench-") as tmp:
            print(json.dumps(fit_versus_reference(args.fit_vs_reference_child, Path(tmp))))
        return
    if args.fit_vs_reference:
        _fit_versus_reference_main([int(s) for s in args.sizes.split(",")], args.json)
        return
    if args.measure_load:
        print(json.dumps(measure_load(Path(args.measure_load[0]), args.measure_load[1], args.queries)))
        return
    if args.serving or args.switches:
        default = "10000,100000,1000000" if args.serving else "10000"
        sizes = [int(s) for s in (args.sizes or default).split(",")]
        with tempfile.TemporaryDirectory(prefix="oppscope-bench-") as tmp:
            if args.switches:
                switched = run_switches(sizes[0], args.switches, Path(tmp))
                print(json.dumps(switched, indent=2)) if args.json else _print_switches(switched)
                return
            served = []
            for size in sizes:
                served.append(run_serving(size, args.queries, Path(tmp)))
                if not args.json:
                    _print_serving(served[-1:])
            if args.json:
                print(json.dumps(served, indent=2))
        return
    args.sizes = args.sizes or "1000,10000,100000"
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
