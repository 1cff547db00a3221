"""Disaster recovery figures on a production-profile service: RTO and RPO from ``oppscope dr test``.

With the real commands: a data directory with a ``--rows`` history (``db upgrade``, ``history sample``, the
model fitted and published), ``oppscope serve --profile production`` and ``oppscope backup continuous`` (what
the production supervisor runs), ``--analyses`` analyses POSTed with a bearer token, ``oppscope backup
create``, ``--after`` more analyses (only the replica has those), ``oppscope backup verify``, then
``oppscope dr test --json`` while the service keeps running. Prints the RTO, the RPO and what was compared.

    .venv/bin/python benchmarks/dr.py [--rows 20000] [--analyses 20] [--after 5] [--workdir DIR] [--json]

A ``--workdir`` whose data directory already holds a history is reused (the history and model are not rebuilt).
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/http.py would shadow the standard library's ``http`` that httpx imports (see history_import.py).
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

import httpx

OPPSCOPE = str(Path(sys.executable).parent / "oppscope")
OPPORTUNITY = {
    "customer_name": "Helios Bank",
    "region": "Germany",
    "close_date": "2026-03-31",
    "opportunity_name": "Core banking migration",
    "description": "Migrate 240 servers and 30 Oracle databases",
}


def _run(env: dict[str, str], *args: str) -> Any:
    result = subprocess.run([OPPSCOPE, *args, "--json"], env=env, capture_output=True, text=True, check=False)
    try:
        body = json.loads(result.stdout)
    except ValueError:
        body = {"stdout": result.stdout[-2000:], "stderr": result.stderr[-2000:]}
    return result.returncode, body


def _prepare(env: dict[str, str], rows: int) -> None:
    for args in (("db", "upgrade"), ("history", "sample", "--rows", str(rows), "--replace")):
        code, body = _run(env, *args)
        assert code == 0, body
    fit = (
        "from oppscope.config import load_settings\n"
        "from oppscope.engines.cache import open_model_cache\n"
        "from oppscope.engines.loading import ensure_published\n"
        "s = load_settings(); ensure_published(s, open_model_cache(s))\n"
    )
    subprocess.run([sys.executable, "-c", fit], env=env, check=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _post(url: str, token: str, count: int, label: str) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        for i in range(count):
            body = {**OPPORTUNITY, "opportunity_name": f"{label} {i}"}
            answer = client.post("/api/v1/analyses", json=body)
            assert answer.status_code == 201, answer.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--analyses", type=int, default=20)
    parser.add_argument("--after", type=int, default=5)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="oppscope-dr-bench-"))
    data = workdir / "data"
    env = {**os.environ, "OPPSCOPE_PROFILE": "production", "OPPSCOPE_DATA_DIR": str(data)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if not (data / "history.duckdb").exists():
        _prepare(env, options.rows)
    code, token = _run(env, "tokens", "create", "--name", "dr-bench", "--scope", "read", "--scope", "write")
    assert code == 0, token
    port = _free_port()
    logs = (workdir / "serve.log").open("ab")
    children = [
        subprocess.Popen([OPPSCOPE, "backup", "continuous"], env=env, stdout=logs, stderr=logs, start_new_session=True),
        subprocess.Popen(
            [OPPSCOPE, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=logs,
            stderr=logs,
            start_new_session=True,
        ),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and all(c.poll() is None for c in children), "the service did not start"
            time.sleep(0.5)
        _post(url, token["token"], options.analyses, "Before the backup")
        code, backup = _run(env, "backup", "create")
        assert code == 0, backup
        _post(url, token["token"], options.after, "After the backup")
        time.sleep(3)  # litestream syncs every second
        code, verified = _run(env, "backup", "verify")
        code_dr, report = _run(env, "dr", "test")
    finally:
        for child in children:
            os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            child.wait(timeout=60)
        logs.close()
    summary = {
        "rows": backup.get("row_counts", {}).get("history_rows"),
        "backup": backup.get("id"),
        "backup_mb": round(backup.get("bytes", 0) / 1e6, 1),
        "verify_ok": verified.get("ok"),
        "dr_exit_code": code_dr,
        "dr": report,
    }
    if options.json:
        print(json.dumps(summary, indent=2))
        return
    c = report.get("comparison", {})
    restore = report.get("restore") or {}
    print(
        f"history {summary['rows']:,} rows, backup {summary['backup']} ({summary['backup_mb']} MB), "
        f"verify ok: {summary['verify_ok']}\n"
        f"dr test exit {code_dr}: state from {restore.get('state_source')}, recovery {restore.get('seconds')} s; "
        f"analyses {c.get('analyses_identical')} of {c.get('analyses_compared')} identical, "
        f"{c.get('analyses_missing')} missing; history {c.get('history')}\n"
        f"RTO {report.get('rto_seconds')} s (target {report.get('rto_target_seconds')} s, "
        f"met: {report.get('rto_met')}); "
        f"RPO {report.get('rpo_seconds')} s (target {report.get('rpo_target_seconds')} s, "
        f"met: {report.get('rpo_met')})"
    )


if __name__ == "__main__":
    main()
