"""History imports under a steady read load, against the real ``oppscope serve``.

Builds a data directory with the real commands (``oppscope db upgrade``, ``oppscope history sample``), starts
``oppscope serve --workers N`` on a free loopback port, and keeps reading ``GET /api/v1/history/stats`` from
background threads: one paced at ``--rate`` requests/s (open loop), plus ``--greedy`` threads that read as
fast as they get answers. Meanwhile it runs ``oppscope history import FILE --replace`` for ``--imports``
generated files of ``--rows`` rows each, one after the other, and reports for each import its exit code and
duration, then the reads' statuses and latency, and whether the server serves the last import's snapshot.

    .venv/bin/python benchmarks/history_import.py [--imports 4] [--rows 20000] [--rate 50] [--greedy 0]
        [--workers 2] [--json]

Before snapshots, 3 of 4 imports failed with ``history_locked`` at 50 requests/s.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts this script's directory first on sys.path, where benchmarks/http.py would shadow the standard
# library's ``http`` that httpx imports; move it to the end first, as benchmarks/http.py itself does.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import importlib.util
import json
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

from oppscope.history.export import write_rows
from oppscope.history.sample import generate_sample

# benchmarks/http.py has the real-server helpers; it shares the standard library's module name, so it is
# loaded by path under another one.
_spec = importlib.util.spec_from_file_location("bench_http", Path(__file__).with_name("http.py"))
assert _spec is not None and _spec.loader is not None
bench_http = importlib.util.module_from_spec(_spec)
sys.modules["bench_http"] = bench_http  # its dataclasses look their module up while being defined
_spec.loader.exec_module(bench_http)


class Reads:
    """Statuses and latencies of the background reads, safe to add to from several threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []

    def add(self, status: str, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)


def _one_read(http: httpx.Client, reads: Reads) -> None:
    started = time.monotonic()
    try:
        status = str(http.get("/api/v1/history/stats").status_code)
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    reads.add(status, time.monotonic() - started)


def _paced_reads(url: str, stop: threading.Event, reads: Reads, rate: float) -> None:
    """Open loop: a read starts every 1/rate s whether or not the earlier ones have been answered."""
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    with httpx.Client(base_url=url, timeout=30, limits=limits) as http:
        pool = ThreadPoolExecutor(16)
        next_at = time.monotonic()
        while not stop.is_set():
            pool.submit(_one_read, http, reads)
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        # Reads the server had no time for yet are not sent once the imports are done.
        pool.shutdown(wait=True, cancel_futures=True)


def _greedy_reads(url: str, stop: threading.Event, reads: Reads) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            _one_read(http, reads)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="oppscope-import-bench-"))
    data_dir = work / "data"
    bench_http._oppscope(data_dir, None, "db", "upgrade")
    bench_http._oppscope(data_dir, None, "history", "sample")
    files = []
    for n in range(args.imports):
        path = work / f"projects-{n}.csv"
        write_rows(generate_sample(args.rows, seed=100 + n).rows, path, "csv")
        files.append(path)
    server = bench_http.Server(data_dir, bench_http._free_port(), args.workers, None, None, work / "server.log")
    reads = Reads()
    stop = threading.Event()
    imports: list[dict[str, Any]] = []
    with bench_http.running_server(server, 600):
        threads = [threading.Thread(target=_paced_reads, args=(server.base_url, stop, reads, args.rate), daemon=True)]
        threads += [
            threading.Thread(target=_greedy_reads, args=(server.base_url, stop, reads), daemon=True)
            for _ in range(args.greedy)
        ]
        for thread in threads:
            thread.start()
        time.sleep(2)
        window_started = time.monotonic()
        try:
            for path in files:
                started = time.perf_counter()
                done = subprocess.run(
                    [str(Path(sys.executable).with_name("oppscope")), "--data-dir", str(data_dir), "--json",
                     "history", "import", str(path), "--replace"],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
                error = report.get("error", {}).get("code") if "error" in report else None
                imports.append(
                    {
                        "exit": done.returncode,
                        "seconds": round(time.perf_counter() - started, 2),
                        "rows": report.get("rows_imported"),
                        "snapshot_id": report.get("snapshot_id"),
                        "error": error or (done.stderr.strip()[-200:] if done.returncode else None),
                    }
                )
        finally:
            window = time.monotonic() - window_started
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        served = httpx.get(f"{server.base_url}/api/v1/history/stats", timeout=30).json()
    latencies = np.array(reads.latencies) * 1000
    return {
        "imports": imports,
        "succeeded": sum(1 for i in imports if i["exit"] == 0),
        "reads": dict(reads.statuses),
        "reads_per_second": round(reads.statuses["200"] / max(window, 1e-9), 1),
        "read_p50_ms": round(float(np.percentile(latencies, 50)), 1) if len(latencies) else None,
        "read_p95_ms": round(float(np.percentile(latencies, 95)), 1) if len(latencies) else None,
        "served_snapshot_is_last_import": bool(imports) and served.get("snapshot_id") == imports[-1]["snapshot_id"],
        "served_rows": served.get("rows"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imports", type=int, default=4)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=50.0, help="paced reads per second")
    parser.add_argument("--greedy", type=int, default=0, help="extra threads reading as fast as they can")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for n, imp in enumerate(result["imports"], 1):
        outcome = "ok" if imp["exit"] == 0 else f"FAILED ({imp['error']})"
        print(f"import {n}: {outcome:>10} {imp['seconds']:6.2f} s  rows {imp['rows']}  snapshot {imp['snapshot_id']}")
    print(
        f"{result['succeeded']} of {len(result['imports'])} imports succeeded under "
        f"{result['reads_per_second']} reads/s answered 200 by GET /api/v1/history/stats "
        f"({args.rate:g}/s paced + {args.greedy} greedy threads, {args.workers} workers)"
    )
    print(f"reads {result['reads']}  p50 {result['read_p50_ms']} ms  p95 {result['read_p95_ms']} ms")
    print(f"server serves the last import's snapshot: {result['served_snapshot_is_last_import']} "
          f"({result['served_rows']} rows)")  # fmt: skip


if __name__ == "__main__":
    main()
