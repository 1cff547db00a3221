"""The checklists' items, each a function of the settings that returns its ``Outcome``.

Each reuses the computation the matching command runs (readiness checks, the log's error groups, the alert rules,
the capacity assessment, log pruning), so an item fails exactly when the command would report the problem.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from oppscope.backup import dr_test, verify_backups
from oppscope.config import Settings
from oppscope.history.duckdb_store import DuckDBHistoryWriter
from oppscope.history.factory import open_history_writer
from oppscope.maintenance import dependencies
from oppscope.maintenance.report import Outcome, Status
from oppscope.ops.alerts import Severity
from oppscope.ops.capacity import CapacityReport, assess
from oppscope.ops.diagnostics import alert_states, error_groups
from oppscope.ops.emergency import EmergencyFlag, emergency_path
from oppscope.ops.health import run_checks
from oppscope.ops.logging import iter_log_records, log_files, prune_logs
from oppscope.ops.timeseries import open_timeseries, timeseries_path
from oppscope.serving.control import running_instances
from oppscope.wiring import open_services

DAY_MINUTES = 24 * 60
SQLITE_BUSY_TIMEOUT_MS = 30_000


# --- daily ------------------------------------------------------------------------------------------------------


def health(settings: Settings, url: str | None = None, token: str | None = None) -> Outcome:
    """The readiness checks, here (engine loaded) or asked of a running service; emergency mode is a warning."""
    if url:
        target = url.rstrip("/") + "/health/ready"
        try:
            answer = httpx.get(target, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
        except httpx.HTTPError as exc:
            return Outcome(Status.failed, f"{target} cannot be reached: {exc}", {"url": target})
        is_json = answer.headers.get("content-type", "").startswith("application/json")
        body: dict[str, Any] = answer.json() if is_json else {}
        if answer.status_code not in (200, 503) or "status" not in body:
            return Outcome(Status.failed, f"{target} answered HTTP {answer.status_code}", {"url": target})
        ready, failing, emergency = body["status"] == "ready", body.get("failing", []), body.get("mode") == "emergency"
        data = {"url": target, **body}
    else:
        with open_services(settings) as services:
            services.engines.load()  # a failure is kept by the holder and reported by its check
            readiness = run_checks(services.checks)
        ready, failing = readiness.ready, readiness.failing
        emergency = EmergencyFlag(emergency_path(settings)).state() is not None
        data = {"checks": readiness.checks, "failing": failing}
    if not ready:
        return Outcome(Status.failed, f"not ready: {', '.join(failing) or 'see the checks'} failing", data)
    if emergency:
        return Outcome(Status.warn, "ready, but emergency maintenance is on: analyses answer 503", data)
    return Outcome(Status.passed, "ready: every dependency answers", data)


def error_logs(settings: Settings, hours: int = 24) -> Outcome:
    """The log's failed requests of the last day by error code, against the warning error rate."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    groups = error_groups(iter_log_records(settings, since))
    stats = open_timeseries(settings).window(hours * 60)
    server = sum(n for g in groups for status, n in g.statuses.items() if status >= 500)
    client = sum(n for g in groups for status, n in g.statuses.items() if status < 500)
    top = ", ".join(f"{g.code}×{g.count}" for g in groups[:5]) or "none"
    data = {
        "since": since.isoformat(),
        "requests": stats.requests,
        "error_rate": stats.error_rate,
        "errors_5xx": server,
        "errors_4xx": client,
        "groups": [g.as_dict() for g in groups],
    }
    detail = (
        f"last {hours} h: {stats.requests} requests, {server} server errors (5xx), {client} client errors (4xx); "
        f"by code: {top}"
    )
    if stats.error_rate is not None and stats.error_rate > settings.alert_error_rate_warning:
        return Outcome(
            Status.failed,
            f"{detail}; 5xx rate {stats.error_rate:.2%} is above the warning {settings.alert_error_rate_warning:.0%}",
            data,
        )
    if server:
        return Outcome(Status.warn, detail, data)
    return Outcome(Status.passed, detail, data)


def metrics(settings: Settings) -> Outcome:
    """Every alert rule over its own window: a critical one firing fails, a warning one warns."""
    states = alert_states(settings, open_timeseries(settings), datetime.now(UTC))
    firing = [s for s in states if s.firing]
    names = ", ".join(s.rule.name for s in firing)
    data = {"alerts": [s.as_dict() for s in states], "firing": [s.rule.name for s in firing]}
    if any(s.rule.severity is Severity.critical for s in firing):
        return Outcome(Status.failed, f"critical alert firing: {names}", data)
    if firing:
        return Outcome(Status.warn, f"warning alert firing: {names}", data)
    measured = sum(s.value is not None for s in states)
    return Outcome(Status.passed, f"no alert firing ({len(states)} rules, {measured} with data in their window)", data)


def backups(settings: Settings) -> Outcome:
    """Every backup's checksums and databases, and the continuous replica, as ``oppscope backup verify``."""
    report = verify_backups(settings)
    data = report.as_dict()
    problems = [*report.problems, *(f"{b.id}: {p}" for b in report.backups for p in b.problems)]
    if report.replica is not None:
        problems += [f"continuous replica: {p}" for p in report.replica.problems]
    if not report.ok:
        return Outcome(Status.failed, "; ".join(problems[:5]) or "backup verification failed", data)
    replica = "no continuous replica" if report.replica is None else "the continuous replica restores"
    newest = report.backups[-1].id if report.backups else "none"
    return Outcome(Status.passed, f"{len(report.backups)} backup(s) verified (newest {newest}); {replica}", data)


# --- weekly and monthly -----------------------------------------------------------------------------------------


def capacity_report(settings: Settings, minutes: int) -> CapacityReport:
    """The time series of the window against the triggers, with the supervisor's instance count when one runs
    (ops cannot ask it: serving sits above ops)."""
    return assess(settings, open_timeseries(settings).window(minutes), instances=running_instances(settings))


def capacity(settings: Settings, minutes: int = DAY_MINUTES) -> Outcome:
    """The capacity assessment of the last day: an overloaded service fails, one to shrink warns."""
    report = capacity_report(settings, minutes)
    data = report.as_dict()
    detail = f"{report.verdict.replace('_', ' ')}: {report.action}"
    status = {
        "scale_up": Status.failed,
        "scale_down": Status.warn,
        "insufficient_data": Status.warn,
        "hold": Status.passed,
    }[report.verdict]
    if report.reasons and status is not Status.passed:
        detail += f" ({report.reasons[0]})"
    return Outcome(status, detail, data)


def log_cleanup(settings: Settings) -> Outcome:
    """Log days past ``log_retention_days`` and time series minutes past ``timeseries_retention_hours`` go."""
    removed = prune_logs(settings)
    open_timeseries(settings).prune()
    kept = log_files(settings)
    data = {
        "removed": [str(p) for p in removed],
        "kept_days": len(kept),
        "retention_days": settings.log_retention_days,
        "timeseries_retention_hours": settings.timeseries_retention_hours,
    }
    return Outcome(
        Status.passed,
        f"{len(removed)} log file(s) past {settings.log_retention_days} days removed, {len(kept)} day(s) kept; "
        f"time series pruned to {settings.timeseries_retention_hours} h",
        data,
    )


def _sqlite_file(settings: Settings) -> Path | None:
    if settings.state_url is None:
        return settings.state_path
    url = make_url(settings.state_url.get_secret_value())
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def optimize_sqlite(path: Path) -> dict[str, Any]:
    """ANALYZE, VACUUM and ``PRAGMA optimize`` on a live WAL database: each a short write transaction that waits
    for the service's writers (busy timeout) while its readers go on reading. Then a PASSIVE checkpoint, the kind
    SQLite runs by itself, which waits for no one, so the continuous backup (litestream) keeps its WAL position;
    the file shrinks once the checkpoint has copied every page back."""
    before = path.stat().st_size
    with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)) as con:
        con.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        con.execute("ANALYZE")
        con.execute("VACUUM")
        con.execute("PRAGMA optimize")
        _, frames, copied = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone() or (0, 0, 0)
        check = con.execute("PRAGMA quick_check").fetchone()
    return {
        "path": str(path),
        "bytes_before": before,
        "bytes_after": path.stat().st_size,
        "checkpointed": frames == copied,  # every WAL frame copied back (none waited for a reader)
        "quick_check": check[0] if check else None,
    }


def vacuum(settings: Settings) -> Outcome:
    """The state database and the time series optimized in place; the history's current snapshot compacted.
    Skipped only when there is nothing here to maintain; each part says what it did or why not."""
    data: dict[str, Any] = {}
    notes: list[str] = []
    state = _sqlite_file(settings)
    if state is None:
        notes.append("state database: skipped, not SQLite (its own server maintains it)")
    elif not state.exists():
        notes.append(f"state database: skipped, {state} does not exist yet")
    else:
        data["state"] = optimize_sqlite(state)
        if data["state"]["quick_check"] != "ok":
            problem = data["state"]["quick_check"]
            return Outcome(Status.failed, f"state database {state} failed its integrity check: {problem}", data)
        notes.append(f"state database: analyzed and vacuumed ({_kib(data['state'])})")
    series = timeseries_path(settings)
    if series.exists():
        data["timeseries"] = optimize_sqlite(series)
        notes.append(f"time series: vacuumed ({_kib(data['timeseries'])})")
    writer = open_history_writer(settings)
    if not isinstance(writer, DuckDBHistoryWriter):
        notes.append("history: skipped, its backend maintains itself")
    elif writer.files.current() is None:
        notes.append("history: skipped, there is none yet")
    else:
        done = writer.compact()
        data["history"] = {
            "snapshot_id": done.snapshot_id,
            "bytes_before": done.bytes_before,
            "bytes_after": done.bytes_after,
            "tables": done.tables,
        }
        notes.append(f"history snapshot {done.snapshot_id}: rewritten compactly and switched ({_kib(data['history'])})")
    return Outcome(Status.passed if data else Status.skipped, "; ".join(notes), data)


def _kib(sizes: dict[str, Any]) -> str:
    return f"{sizes['bytes_before'] / 1024:,.0f} KiB -> {sizes['bytes_after'] / 1024:,.0f} KiB"


def dependency_check() -> Outcome:
    """The installed versions against uv.lock (and the lock against pyproject.toml); outdated ones listed."""
    project = dependencies.project_dir()
    if project is None:
        return Outcome(Status.skipped, "no uv.lock beside the installed code (neither a checkout nor a release)")
    lock = project / dependencies.LOCK_FILE
    comparison = dependencies.compare_lock(lock)
    current, why = dependencies.lock_is_current(project)
    newer, unavailable = dependencies.outdated()
    data = {
        "lock": str(lock),
        "locked": comparison.locked,
        "checked": comparison.checked,
        "mismatched": {k: {"installed": v[0], "locked": v[1]} for k, v in comparison.mismatched.items()},
        "unlocked": comparison.unlocked,
        "lock_current": current,
        "outdated": newer,
    }
    if not comparison.ok:
        listed = ", ".join(f"{k} {v[0]} (lock: {'/'.join(v[1])})" for k, v in comparison.mismatched.items())
        return Outcome(Status.failed, f"installed versions differ from {lock}: {listed}", data)
    if not current:
        return Outcome(Status.failed, f"uv.lock does not match pyproject.toml: {why} (run `make lock`)", data)
    detail = f"{comparison.checked} installed packages match {lock}"
    if newer is None:
        return Outcome(
            Status.warn, f"{detail}; outdated ones not listed, the index did not answer: {unavailable}", data
        )
    listed = ", ".join(f"{o['name']} {o['version']} -> {o['latest']}" for o in newer) or "none"
    return Outcome(Status.passed, f"{detail}; newer on the index: {listed}", data)


def security_audit(env: dict[str, str] | None = None) -> Outcome:
    """pip-audit over the locked dependencies; no answer from the vulnerability service is a failure."""
    project = dependencies.project_dir()
    if project is None:
        return Outcome(Status.failed, "no uv.lock beside the installed code: nothing to audit against")
    audit = dependencies.audit_lock(project, env)
    data = {
        "audited": audit.audited,
        "vulnerabilities": audit.vulnerabilities,
        "unaudited": audit.unaudited,
        "error": audit.error,
    }
    if audit.error is not None:
        return Outcome(Status.failed, f"the audit could not run: {audit.error}", data)
    if audit.vulnerabilities:
        listed = ", ".join(f"{v['name']} {v['version']} {v['id']}" for v in audit.vulnerabilities)
        return Outcome(Status.failed, f"{len(audit.vulnerabilities)} known vulnerabilities: {listed}", data)
    if audit.unaudited:
        first = next(iter(audit.unaudited.values()))
        return Outcome(
            Status.failed,
            f"{len(audit.unaudited)} of {len(audit.unaudited) + audit.audited} locked dependencies could not be "
            f"audited (the vulnerability service did not answer for them), e.g. {first}",
            data,
        )
    return Outcome(Status.passed, f"{audit.audited} locked dependencies audited: no known vulnerabilities", data)


def disaster_recovery(settings: Settings) -> Outcome:
    """``oppscope dr test``: the data directory lost in a scratch copy, recovered, served, read back; RTO and RPO
    against their targets. The live data and backups are never touched."""
    report = dr_test(settings)
    data = report.as_dict()
    measured = (
        f"RTO {_minutes(report.rto_seconds)} (target {_minutes(report.rto_target_seconds)}), "
        f"RPO {_minutes(report.rpo_seconds)} (target {_minutes(report.rpo_target_seconds)})"
    )
    if not report.ok:
        problems = [*report.problems, *report.comparison.problems]
        if report.comparison.different:
            problems.append(f"{len(report.comparison.different)} analyses differ after the recovery")
        return Outcome(Status.failed, f"{'; '.join(problems[:3]) or 'the rehearsal failed'}; {measured}", data)
    compared = report.comparison
    detail = f"recovered and served: {compared.identical} of {compared.compared} analyses identical"
    if compared.missing:
        detail += f", {len(compared.missing)} made after the newest backup or replica point (the RPO)"
    return Outcome(Status.passed, f"{detail}; {measured}", data)


def _minutes(seconds: float | None) -> str:
    return "not measured" if seconds is None else f"{seconds / 60:.1f} min"
