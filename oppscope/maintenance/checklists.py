"""The seed's daily, weekly and monthly maintenance as lists of items (``oppscope maintenance daily|weekly|monthly``).

- daily: system health, the error log, the metrics against the alert thresholds, the backups verified;
- weekly: capacity over the last day, old logs cleaned up, the databases vacuumed and analyzed, the installed
  dependencies against the lock;
- monthly: capacity over everything the time series keeps, a security audit of the locked dependencies, a
  disaster-recovery rehearsal.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from oppscope.config import Settings
from oppscope.maintenance import items
from oppscope.maintenance.report import ChecklistReport, Item, run_checklist


def daily(settings: Settings, url: str | None = None, token: str | None = None) -> list[Item]:
    return [
        Item("health", "Check system health", partial(items.health, settings, url, token)),
        Item("error_logs", "Review error logs", partial(items.error_logs, settings)),
        Item("metrics", "Monitor performance metrics", partial(items.metrics, settings)),
        Item("backups", "Validate backup completion", partial(items.backups, settings)),
    ]


def weekly(settings: Settings) -> list[Item]:
    return [
        Item("capacity_review", "Review capacity utilization", partial(items.capacity, settings, items.DAY_MINUTES)),
        Item("log_cleanup", "Clean up old logs", partial(items.log_cleanup, settings)),
        Item("vacuum", "Vacuum and analyze the databases", partial(items.vacuum, settings)),
        Item("dependencies", "Check dependencies against the lock", items.dependency_check),
    ]


def monthly(settings: Settings) -> list[Item]:
    kept = settings.timeseries_retention_hours * 60
    return [
        Item("capacity_report", "Capacity planning review", partial(items.capacity, settings, kept)),
        Item("security_audit", "Security audit", items.security_audit),
        Item("dr_test", "Disaster recovery testing", partial(items.disaster_recovery, settings)),
    ]


CHECKLISTS: dict[str, Callable[[Settings], list[Item]]] = {"daily": daily, "weekly": weekly, "monthly": monthly}


def run(name: str, settings: Settings, url: str | None = None, token: str | None = None) -> ChecklistReport:
    chosen = daily(settings, url, token) if name == "daily" else CHECKLISTS[name](settings)
    return run_checklist(name, chosen)
