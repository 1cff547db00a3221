"""HTTP benchmark: analyses/s and latency of ``POST /api/v1/analyses`` against the real ``oppscope serve``.

For each history size it builds a fresh data directory with the real commands (``oppscope db upgrade``, then
``oppscope history sample`` for the 5,000-row sample or ``oppscope history import FILE`` for a generated
history of any other size), starts ``oppscope serve --workers N`` on a free loopback port, waits for
``/health/ready``, and then measures

* throughput: wrk (``benchmarks/wrk_post.lua``) POSTs varied opportunity bodies, round-robin, from as many
  connections as asked; analyses/s counts 201 answers only, p50/p95/p99 come from wrk's latency record;
* the seed's load: 100 requests a minute (one every 0.6 s, open loop: a slow answer does not delay the next)
  from a small httpx client, latency measured from each request's scheduled start;

and finally counts the analyses saved in ``<data_dir>/state.sqlite``. Then, on the first history size, the cost
of the instrumentation (Prometheus metrics, the time series, stage timings): the same wrk load against servers
with ``OPPSCOPE_METRICS_ENABLED`` false and true, in the order off, on, on, off per pair of rounds so that a
drift of the machine falls on both, compared by mean analyses/s. The server is always stopped (its whole
process group: the uvicorn supervisor and its workers), also on Ctrl-C, SIGTERM or an error.

    .venv/bin/python benchmarks/http.py [--sizes 5000,100000] [--workers N] [--duration 30] [--connections 8]
        [--threads 1] [--paced-seconds 60] [--cost-seconds 15] [--cost-rounds 2] [--cost-only] [--quick] [--json]

Targets: at least 100 analyses/s in the throughput run, paced p95 under 100 ms, instrumentation under 5%.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file has the standard library's name ``http``, and Python puts a script's own directory first on
# sys.path, so ``import http.client`` (urllib, httpx) would find this file. Move benchmarks/ to the end
# (a stable sort keeps every other entry in order) before anything is imported.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any, TextIO

import httpx
import numpy as np

from oppscope.history.export import write_rows
from oppscope.history.sample import generate_sample, row_as_request

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "wrk_post.lua"
ENDPOINT = "/api/v1/analyses"
SAMPLE_ROWS = 5_000  # the sample ``oppscope serve`` auto-loads (settings.sample_rows)
TARGET_PER_S = 100.0
TARGET_PACED_P95_MS = 100.0
SEED_RATE_PER_MINUTE = 100.0
TARGET_INSTRUMENTATION_COST = 0.05


def _progress(message: str) -> None:
    """Progress goes to stderr, so ``--json`` output on stdout stays parseable."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentiles_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


# --- request bodies -------------------------------------------------------------------------------------------


def request_bodies(count: int, seed: int) -> list[dict[str, Any]]:
    """Opportunities as sellers type them, drawn from the history generator (its customers, countries,
    project descriptions) with another seed than the history: varied, realistic and never a cached repeat.
    Every third one carries only what the form requires plus a description, the rest every optional field."""
    return [
        row_as_request(row, optional_fields=bool(i % 3)) for i, row in enumerate(generate_sample(count, seed).rows)
    ]


# --- the real commands and server -----------------------------------------------------------------------------


def _oppscope(data_dir: Path, profile: str | None, *args: str) -> str:
    """Run the installed console script, exactly what a user runs; its stdout."""
    command = [str(Path(sys.executable).with_name("oppscope")), "--data-dir", str(data_dir)]
    if profile:
        command += ["--profile", profile]
    done = subprocess.run([*command, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`oppscope {' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


@dataclass
class Server:
    """``oppscope serve`` in its own process group, so the uvicorn workers are stopped with it."""

    data_dir: Path
    port: int
    workers: int
    profile: str | None
    log_level: str | None
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _log: TextIO | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            str(Path(sys.executable).with_name("oppscope")), "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        if self.profile:
            command += ["--profile", self.profile]
        env = {**os.environ, **self.env}
        if self.log_level:
            env["OPPSCOPE_LOG_LEVEL"] = self.log_level
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds until ``/health/ready`` answered 200 (the first start fits the engine before it listens)."""
        assert self.process is not None
        started = time.perf_counter()
        with httpx.Client(timeout=5) as client:
            while time.perf_counter() - started < timeout_s:
                if self.process.poll() is not None:
                    raise RuntimeError(f"oppscope serve exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.base_url}/health/ready").status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass  # not listening yet
                time.sleep(0.25)
        raise RuntimeError(f"oppscope serve was not ready within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the group (uvicorn shuts its workers down), SIGKILL whatever is left after 20 s."""
        process, self.process = self.process, None
        if process is not None:
            pgid = process.pid  # start_new_session: the server leads its own group
            _signal_group(pgid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                process.wait(timeout=10)
            deadline = time.monotonic() + 10  # workers may outlive the supervisor for a moment
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_alive(pgid):
                _signal_group(pgid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def running_server(server: Server, ready_timeout_s: float) -> Iterator[float]:
    """Start the server and yield its seconds-to-ready; it is stopped however the block ends."""
    try:
        server.start()
        yield server.wait_ready(ready_timeout_s)
    finally:
        server.stop()


def _stop_on_sigterm() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every ``finally`` (stopping the server) runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# --- load generators ------------------------------------------------------------------------------------------


def warm_up(base_url: str, bodies: Sequence[dict[str, Any]], count: int, headers: dict[str, str]) -> int:
    """A few sequential analyses so every worker has touched its engine; the number answered 201."""
    created = 0
    with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:
        for i in range(count):
            created += client.post(ENDPOINT, json=bodies[i % len(bodies)]).status_code == 201
    return created


def run_wrk(
    base_url: str, bodies_path: Path, token: str | None, *, duration_s: int, connections: int, threads: int,
    timeout_s: int, verbose: bool,
) -> dict[str, Any]:  # fmt: skip
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    command = [
        wrk, f"--threads={threads}", f"--connections={connections}", f"--duration={duration_s}s",
        f"--timeout={timeout_s}s", f"--script={LUA_SCRIPT}", f"{base_url}{ENDPOINT}", "--", str(bodies_path),
    ]  # fmt: skip
    if token:
        command.append(token)
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + timeout_s + 60)
    if verbose:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    figures: dict[str, int] = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "oppscope-wrk":
            figures[parts[1]] = int(parts[2])
    if "requests" not in figures:
        raise RuntimeError(f"wrk printed no figures (is {LUA_SCRIPT.name} in use?):\n{done.stdout[-2000:]}")
    statuses = {k.removeprefix("status_"): v for k, v in figures.items() if k.startswith("status_")}
    socket_errors = {k.removeprefix("socket_"): v for k, v in figures.items() if k.startswith("socket_")}
    created = figures["requests"] - sum(statuses.values())
    seconds = figures["duration_us"] / 1e6
    return {
        "duration_s": round(seconds, 1),
        "connections": connections,
        "threads": threads,
        "requests": figures["requests"],
        "created": created,
        "analyses_per_s": round(created / seconds, 1),
        "p50_ms": round(figures["latency_p50_us"] / 1000, 1),
        "p95_ms": round(figures["latency_p95_us"] / 1000, 1),
        "p99_ms": round(figures["latency_p99_us"] / 1000, 1),
        "mean_ms": round(figures["latency_mean_us"] / 1000, 1),
        "max_ms": round(figures["latency_max_us"] / 1000, 1),
        "non_201_by_status": statuses,
        "socket_errors": {k: v for k, v in socket_errors.items() if v},
        "errors": sum(statuses.values()) + sum(socket_errors.values()),
    }


async def _paced(
    base_url: str, bodies: Sequence[dict[str, Any]], headers: dict[str, str], rate_per_minute: float, seconds: float
) -> dict[str, Any]:
    interval = 60.0 / rate_per_minute
    count = max(1, int(seconds / interval))
    latencies: list[float] = []
    failures: dict[str, int] = {}

    async def one(client: httpx.AsyncClient, body: dict[str, Any], scheduled: float) -> None:
        try:
            response = await client.post(ENDPOINT, json=body)
        except httpx.HTTPError as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            return
        # From the scheduled start, so any lag of this client's own loop counts against us, not for us.
        latencies.append(time.perf_counter() - scheduled)
        if response.status_code != 201:
            failures[str(response.status_code)] = failures.get(str(response.status_code), 0) + 1

    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client:
        start = time.perf_counter() + 0.1
        tasks = []
        for i in range(count):
            scheduled = start + i * interval
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, bodies[i % len(bodies)], scheduled)))
        await asyncio.gather(*tasks)
    return {
        "rate_per_minute": rate_per_minute,
        "seconds": round(count * interval, 1),
        "requests": count,
        "created": count - sum(failures.values()),
        **_percentiles_ms(latencies),
        "non_201": failures,
        "errors": sum(failures.values()),
    }


def run_paced(
    base_url: str, bodies: Sequence[dict[str, Any]], headers: dict[str, str], rate_per_minute: float, seconds: float
) -> dict[str, Any]:
    return asyncio.run(_paced(base_url, bodies, headers, rate_per_minute, seconds))


def saved_analyses(data_dir: Path) -> int:
    """Rows in the state database's ``analyses`` table, read-only (the server has stopped by now)."""
    path = data_dir / "state.sqlite"
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
        (count,) = con.execute("SELECT count(*) FROM analyses").fetchone()
    return int(count)


# --- one history size -----------------------------------------------------------------------------------------


@dataclass
class Options:
    workers: int
    duration_s: int
    connections: int
    threads: int
    timeout_s: int
    paced_seconds: float
    warmup: int
    bodies: int
    seed: int
    profile: str | None
    log_level: str | None
    ready_timeout_s: float
    verbose: bool
    cost_seconds: int
    cost_rounds: int
    cost_only: bool


def load_history(rows: int, data_dir: Path, workdir: Path, options: Options) -> str:
    """Fill the history with the real commands; how it was loaded."""
    if rows == SAMPLE_ROWS:
        _oppscope(data_dir, options.profile, "history", "sample", "--rows", str(rows))
        return "sample"
    csv_path = workdir / f"history-{rows}.csv"
    write_rows(generate_sample(rows, options.seed).rows, csv_path, "csv")
    _oppscope(data_dir, options.profile, "history", "import", str(csv_path))
    return "import"


@dataclass
class Prepared:
    rows: int
    source: str
    data_dir: Path
    load_s: float
    token: str | None
    headers: dict[str, str]
    bodies: list[dict[str, Any]]
    bodies_path: Path


def prepare(rows: int, workdir: Path, options: Options) -> Prepared:
    """A data directory with the history loaded by the real commands, a token where needed, request bodies."""
    data_dir = workdir / f"data-{rows}"
    _progress(f"{rows:,} rows: oppscope db upgrade, load the history")
    t0 = time.perf_counter()
    _oppscope(data_dir, options.profile, "db", "upgrade")
    source = load_history(rows, data_dir, workdir, options)
    load_s = time.perf_counter() - t0
    token = None
    if options.profile not in (None, "development"):  # staging and production need a bearer token
        token = json.loads(_oppscope(data_dir, options.profile, "--json", "tokens", "create", "--name", "bench"))[
            "token"
        ]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    bodies = request_bodies(options.bodies, seed=options.seed + 1)
    bodies_path = workdir / f"bodies-{rows}.jsonl"
    bodies_path.write_text("".join(json.dumps(b) + "\n" for b in bodies))
    return Prepared(rows, source, data_dir, load_s, token, headers, bodies, bodies_path)


def run_size(prepared: Prepared, workdir: Path, options: Options) -> dict[str, Any]:
    rows, data_dir, headers, bodies = prepared.rows, prepared.data_dir, prepared.headers, prepared.bodies
    server = Server(
        data_dir, _free_port(), options.workers, options.profile, options.log_level, workdir / f"serve-{rows}.log"
    )
    _progress(f"{rows:,} rows: oppscope serve --workers {options.workers} on port {server.port}, waiting for ready")
    with running_server(server, options.ready_timeout_s) as ready_s:
        _progress(f"{rows:,} rows: ready after {ready_s:.1f} s; warm-up {options.warmup} requests")
        warm_created = warm_up(server.base_url, bodies, options.warmup, headers)
        _progress(
            f"{rows:,} rows: wrk {options.duration_s} s, {options.connections} connections, {options.threads} threads"
        )
        throughput = run_wrk(
            server.base_url, prepared.bodies_path, prepared.token, duration_s=options.duration_s,
            connections=options.connections, threads=options.threads, timeout_s=options.timeout_s,
            verbose=options.verbose,
        )  # fmt: skip
        time.sleep(1)  # let requests still in flight when wrk stopped finish before the paced run
        _progress(f"{rows:,} rows: paced {SEED_RATE_PER_MINUTE:.0f}/min for {options.paced_seconds:.0f} s")
        paced = run_paced(server.base_url, bodies, headers, SEED_RATE_PER_MINUTE, options.paced_seconds)
    saved = saved_analyses(data_dir)
    paced_p95 = paced["p95_ms"]
    return {
        "history_rows": rows,
        "history_source": prepared.source,
        "workers": options.workers,
        "profile": options.profile or "development",
        "log_level": options.log_level or "profile default",
        "setup": {"load_history_s": round(prepared.load_s, 1), "start_to_ready_s": round(ready_s, 1)},
        "throughput": throughput,
        "paced": paced,
        "warmup_created": warm_created,
        # wrk does not count requests still in flight when it stops; the server may finish and save them.
        "created_201": warm_created + throughput["created"] + paced["created"],
        "saved_analyses": saved,
        "targets": {
            "analyses_per_s": TARGET_PER_S,
            "analyses_per_s_met": throughput["analyses_per_s"] >= TARGET_PER_S,
            "paced_p95_ms": TARGET_PACED_P95_MS,
            "paced_p95_met": paced_p95 is not None and paced_p95 < TARGET_PACED_P95_MS,
        },
    }


_PER_REQUEST = """
import os, sys, time
from pathlib import Path
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from oppscope.config import load_settings
from oppscope.ops.metrics import Telemetry
from oppscope.ops.timeseries import STAGES
telemetry = Telemetry(load_settings(data_dir=Path(sys.argv[1]) / "data"))
telemetry.start()
count = int(sys.argv[2])
started = time.process_time()
for i in range(count):
    telemetry.request("POST", "/api/v1/analyses", 201 if i % 10 else 422, 0.013)
    for stage in STAGES:
        telemetry.stage(stage, 0.002)
    telemetry.cache(i % 2 == 0)
print((time.process_time() - started) / count * 1e6)
telemetry.stop()
"""


def instrumentation_cpu_us(workdir: Path, count: int = 20_000) -> float:
    """CPU microseconds the instrumentation adds to one analysis request (what the web layer and the service
    report: the request, five stages and a cache look-up, into multiprocess Prometheus files and the time
    series), measured alone: a figure the noise of a shared machine does not move."""
    directory = workdir / "per-request"
    directory.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", _PER_REQUEST, str(directory), str(count)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def instrumentation_cost(prepared: Prepared, workdir: Path, options: Options) -> dict[str, Any]:
    """The same wrk load with the instrumentation off and on, rounds ordered off, on, on, off; the throughput
    lost with it on, from the mean analyses/s of each."""
    order = [enabled for _ in range(options.cost_rounds // 2) for enabled in (False, True, True, False)]
    order += [False, True] if options.cost_rounds % 2 else []
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for i, enabled in enumerate(order):
        server = Server(
            prepared.data_dir, _free_port(), options.workers, options.profile, options.log_level,
            workdir / f"serve-cost-{i}.log", env={"OPPSCOPE_METRICS_ENABLED": "true" if enabled else "false"},
        )  # fmt: skip
        label = "on" if enabled else "off"
        _progress(f"instrumentation cost {i + 1}/{len(order)}: metrics {label}, wrk {options.cost_seconds} s")
        with running_server(server, options.ready_timeout_s):
            warm_up(server.base_url, prepared.bodies, options.warmup, prepared.headers)
            figures = run_wrk(
                server.base_url, prepared.bodies_path, prepared.token, duration_s=options.cost_seconds,
                connections=options.connections, threads=options.threads, timeout_s=options.timeout_s,
                verbose=options.verbose,
            )  # fmt: skip
        runs[enabled].append(figures)
    off = float(np.mean([r["analyses_per_s"] for r in runs[False]]))
    on = float(np.mean([r["analyses_per_s"] for r in runs[True]]))
    cost = 1 - on / off if off else None
    per_request_us = instrumentation_cpu_us(workdir)
    return {
        "per_request_cpu_us": round(per_request_us, 1),
        # The CPU a second of analyses at the measured rate spends in it, as a share of the cores the server has.
        "per_request_cpu_share": round(per_request_us * 1e-6 * off / min(options.workers, _cpu_count()), 4),
        "history_rows": prepared.rows,
        "seconds_per_run": options.cost_seconds,
        "order": ["on" if e else "off" for e in order],
        "off_analyses_per_s": [r["analyses_per_s"] for r in runs[False]],
        "on_analyses_per_s": [r["analyses_per_s"] for r in runs[True]],
        "off_mean": round(off, 1),
        "on_mean": round(on, 1),
        "off_p95_ms": [r["p95_ms"] for r in runs[False]],
        "on_p95_ms": [r["p95_ms"] for r in runs[True]],
        "errors": sum(r["errors"] for rs in runs.values() for r in rs),
        "cost": None if cost is None else round(cost, 4),
        "target": TARGET_INSTRUMENTATION_COST,
        "met": cost is not None and cost < TARGET_INSTRUMENTATION_COST,
    }


# --- output ---------------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(results: Sequence[dict[str, Any]]) -> None:
    header = (
        f"{'rows':>8} {'workers':>7} | {'analyses/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} | "
        f"{'paced p50':>9} {'p95':>6} {'p99':>6} | {'errors':>6} {'saved':>6} | targets (>=100/s, paced p95<100ms)"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        t, p, met = r["throughput"], r["paced"], r["targets"]
        targets = " / ".join("met" if met[k] else "MISSED" for k in ("analyses_per_s_met", "paced_p95_met"))
        print(
            f"{r['history_rows']:>8,} {r['workers']:>7} | {t['analyses_per_s']:>10.1f} {_ms(t['p50_ms']):>7} "
            f"{_ms(t['p95_ms']):>7} {_ms(t['p99_ms']):>7} | {_ms(p['p50_ms']):>9} {_ms(p['p95_ms']):>6} "
            f"{_ms(p['p99_ms']):>6} | {t['errors'] + p['errors']:>6} {r['saved_analyses']:>6} | {targets}"
        )
    for r in results:
        t, p = r["throughput"], r["paced"]
        details = []
        if t["non_201_by_status"] or t["socket_errors"]:
            details.append(f"throughput non-201 {t['non_201_by_status']} socket {t['socket_errors']}")
        if p["non_201"]:
            details.append(f"paced failures {p['non_201']}")
        print(
            f"{r['history_rows']:>8,} rows ({r['history_source']}): loaded in {r['setup']['load_history_s']} s, "
            f"ready {r['setup']['start_to_ready_s']} s after start; wrk {t['requests']:,} requests in "
            f"{t['duration_s']} s over {t['connections']} connections (max {_ms(t['max_ms'])} ms); paced "
            f"{p['requests']} requests in {p['seconds']} s (max {_ms(p['max_ms'])} ms); "
            f"{r['created_201']:,} answered 201, {r['saved_analyses']:,} saved"
            + ("; " + "; ".join(details) if details else "")
        )


def print_cost(cost: dict[str, Any]) -> None:
    share = "-" if cost["cost"] is None else f"{cost['cost'] * 100:+.1f}%"
    print(
        f"instrumentation ({cost['history_rows']:,} rows, {cost['seconds_per_run']} s per run, order "
        f"{' '.join(cost['order'])}): metrics off {cost['off_mean']:.1f} analyses/s {cost['off_analyses_per_s']}, "
        f"on {cost['on_mean']:.1f} {cost['on_analyses_per_s']}; throughput cost {share} "
        f"(target < {cost['target'] * 100:.0f}%: {'met' if cost['met'] else 'MISSED'}); errors {cost['errors']}; "
        f"instrumentation alone {cost['per_request_cpu_us']:.0f} us CPU per analysis request, "
        f"{cost['per_request_cpu_share'] * 100:.2f}% of the cores at the measured rate"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=f"{SAMPLE_ROWS},100000", help="History sizes, comma separated.")
    parser.add_argument("--workers", type=int, default=_cpu_count(), help="oppscope serve --workers (CPU count).")
    parser.add_argument("--duration", type=int, help="wrk seconds (30; quick: 5).")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8).")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1: leaves the cores to the server).")
    parser.add_argument("--timeout", type=int, default=30, help="wrk request timeout in seconds (30).")
    parser.add_argument("--paced-seconds", type=float, help="Seconds at 100 requests/minute (60; quick: 15).")
    parser.add_argument("--warmup", type=int, help="Sequential requests before measuring (20; quick: 5).")
    parser.add_argument("--bodies", type=int, default=400, help="Distinct request bodies (400).")
    parser.add_argument("--seed", type=int, default=7, help="Seed of the generated history and bodies.")
    parser.add_argument("--profile", help="oppscope settings profile (development: no auth, high rate limits).")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="OPPSCOPE_LOG_LEVEL.")
    parser.add_argument("--cost-seconds", type=int, help="wrk seconds per instrumentation run (15; quick: 5).")
    parser.add_argument("--cost-rounds", type=int, default=2, help="Runs with metrics on, and as many off (2).")
    parser.add_argument("--cost-only", action="store_true", help="Only the instrumentation cost, first size.")
    parser.add_argument("--ready-timeout", type=float, default=900, help="Seconds to wait for /health/ready.")
    parser.add_argument("--quick", action="store_true", help="A short smoke run.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument("--verbose", action="store_true", help="Show wrk's own report on stderr.")
    args = parser.parse_args()
    options = Options(
        workers=args.workers,
        duration_s=args.duration or (5 if args.quick else 30),
        connections=args.connections,
        threads=args.threads,
        timeout_s=args.timeout,
        paced_seconds=args.paced_seconds or (15 if args.quick else 60),
        warmup=args.warmup if args.warmup is not None else (5 if args.quick else 20),
        bodies=args.bodies,
        seed=args.seed,
        profile=args.profile,
        log_level=args.log_level,
        ready_timeout_s=args.ready_timeout,
        verbose=args.verbose,
        cost_seconds=args.cost_seconds or (5 if args.quick else 15),
        cost_rounds=max(1, args.cost_rounds),
        cost_only=args.cost_only,
    )
    _stop_on_sigterm()
    _progress(f"options: {asdict(options)}")
    results = []
    cost: dict[str, Any] | None = None
    sizes = [int(s) for s in args.sizes.split(",")]
    try:
        with tempfile.TemporaryDirectory(prefix="oppscope-http-bench-") as tmp:
            for i, size in enumerate(sizes[:1] if options.cost_only else sizes):
                prepared = prepare(size, Path(tmp), options)
                if not options.cost_only:
                    results.append(run_size(prepared, Path(tmp), options))
                if i == 0:
                    cost = instrumentation_cost(prepared, Path(tmp), options)
    except KeyboardInterrupt as exc:
        _progress(f"interrupted ({exc or 'Ctrl-C'}); the server was stopped")
        sys.exit(130)
    if args.json:
        json.dump({"sizes": results, "instrumentation": cost}, sys.stdout, indent=2)
        print()
    else:
        if results:
            print_table(results)
        if cost is not None:
            print_cost(cost)


if __name__ == "__main__":
    main()
