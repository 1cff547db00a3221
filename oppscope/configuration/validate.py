"""``oppscope config validate``: every problem of the configuration, one message each.

Beyond what loading checks (types, ranges, unknown keys, secrets in files), this looks at the machine: the
directories must be writable, the backends must answer, the profile's own rules must hold (staging and production
require tokens; backups may not live inside the data directory) and the secrets must be private. What a first
production start on a fresh machine cannot have yet (an alert webhook, a history) is a warning, never an error:
the deployment's preflight runs this, and a fresh machine must pass it.
"""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from oppscope.config import ENV_PREFIX, SECRET_FIELDS, Profile, Settings
from oppscope.configuration.layers import Inspection, Problem, Severity, inspect_settings, secret_is_set
from oppscope.state.db import state_engine

# Variables with our prefix that are not settings but are read on purpose (the CLI's token, secret file names).
_OTHER_VARIABLES = frozenset({f"{ENV_PREFIX}TOKEN", *(f"{ENV_PREFIX}{name.upper()}_FILE" for name in SECRET_FIELDS)})


@dataclass(frozen=True)
class ConfigReport:
    profile: str
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "profile": self.profile,
            "errors": [p.as_dict() for p in self.problems if p.severity == "error"],
            "warnings": [p.as_dict() for p in self.problems if p.severity == "warning"],
        }


def validate_configuration(overrides: dict[str, Any] | None = None, *, check_backends: bool = True) -> ConfigReport:
    """The whole check. ``overrides`` are what a command's flags give ``load_settings``."""
    inspection = inspect_settings(overrides)
    problems = list(inspection.problems) + _unknown_variables()
    settings = inspection.settings
    if settings is not None:
        problems += _paths(settings) + _profile_rules(settings) + _secrets(settings, inspection)
        problems += _resources(settings)
        if check_backends:
            problems += _backends(settings)
    return ConfigReport(inspection.profile, problems)


def _unknown_variables() -> list[Problem]:
    """A misspelt variable is silently ignored by the loading: say so, with the nearest name."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    problems = []
    for variable in sorted(os.environ):
        if variable.startswith(ENV_PREFIX) and variable not in known and variable not in _OTHER_VARIABLES:
            near = difflib.get_close_matches(variable, known, n=1)
            hint = f": did you mean {near[0]}?" if near else ""
            problems.append(
                Problem(
                    "warning", "unknown_variable", f"is not a setting and is ignored{hint}", source=f"env {variable}"
                )
            )
    return problems


def _writable_dir(path: Path) -> str | None:
    """Why ``path`` cannot be written (or created), or None when it can."""
    probe = path.resolve()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this user"
    return None


def _paths(settings: Settings) -> list[Problem]:
    problems = []
    directories = {
        "data_dir": settings.data_dir,
        "log_dir": settings.log_path,
        "backup_dir": settings.backup_path,
        "config_dir": settings.config_path,
        "releases_dir": settings.releases_path,
    }
    for name, path in directories.items():
        reason = _writable_dir(path)
        if reason:
            problems.append(Problem("error", "path_not_writable", f"{path}: {reason}", name))
    data, backups = settings.data_dir.resolve(), settings.backup_path.resolve()
    if backups == data or backups.is_relative_to(data):
        severity: Severity = "warning" if settings.profile is Profile.development else "error"
        problems.append(
            Problem(
                severity,
                "backups_inside_data",
                f"{backups} is inside the data directory {data}: losing it would lose the backups too",
                "backup_dir",
            )
        )
    return problems


def _profile_rules(settings: Settings) -> list[Problem]:
    problems = []
    if settings.profile is not Profile.development and not settings.require_auth:
        problems.append(
            Problem(
                "error",
                "auth_required",
                f"must be true in {settings.profile.value}: every call needs a token",
                "require_auth",
            )
        )
    if settings.monitoring == "full" and not settings.metrics_enabled:
        problems.append(
            Problem(
                "warning",
                "monitoring_off",
                "monitoring is full but metrics_enabled is false: no metrics, time series or alerts in the service",
                "metrics_enabled",
            )
        )
    if settings.profile is not Profile.development and not settings.secure_cookies:
        problems.append(
            Problem("warning", "insecure_cookies", "cookies would be sent over plain HTTP", "secure_cookies")
        )
    return problems


def _secrets(settings: Settings, inspection: Inspection) -> list[Problem]:
    """Production's secrets: set where it needs them, and readable only by their owner."""
    problems = []
    strict = settings.profile is Profile.production
    for name in SECRET_FIELDS:
        origin = inspection.origins.get(name)
        if origin is None or origin.source != "secret_file" or origin.detail is None:
            continue
        mode = stat.S_IMODE(Path(origin.detail).stat().st_mode)
        if mode & 0o077:
            problems.append(
                Problem(
                    "error" if strict else "warning",
                    "secret_file_readable",
                    f"{origin.detail} is readable by others (mode {mode:o}): chmod 600 it",
                    name,
                )
            )
    if strict and settings.monitoring == "full" and not secret_is_set(settings.alert_webhook_url):
        problems.append(
            Problem(
                "warning",
                "no_alert_webhook",
                f"alerts are logged and shown on /ops but sent nowhere: set {ENV_PREFIX}ALERT_WEBHOOK_URL or "
                f"{ENV_PREFIX}ALERT_WEBHOOK_URL_FILE",
                "alert_webhook_url",
            )
        )
    return problems


def _resources(settings: Settings) -> list[Problem]:
    """The profile's size against this machine: a smaller machine still runs, so it is a warning."""
    size, problems = settings.resource_size, []
    cpus = os.cpu_count() or 1
    if settings.worker_count > cpus:
        problems.append(
            Problem(
                "warning",
                "more_workers_than_cpus",
                f"{settings.worker_count} workers on {cpus} CPUs: they will share them",
                "workers" if settings.workers else "resources",
            )
        )
    memory_mb = psutil.virtual_memory().total // 2**20
    if size.memory_mb > memory_mb:
        problems.append(
            Problem(
                "warning",
                "less_memory_than_sized",
                f"sized for {size.memory_mb} MB, the machine has {memory_mb} MB",
                "resources",
            )
        )
    return problems


def _backends(settings: Settings) -> list[Problem]:
    """The state database must answer; a history that does not exist yet is a warning (imports create it)."""
    problems = []
    if settings.state_url is None and not settings.state_path.exists():
        problems.append(
            Problem(
                "warning",
                "no_state_database",
                f"{settings.state_path} does not exist yet: `oppscope db upgrade` creates it",
                "state_url",
            )
        )
    else:
        try:
            with state_engine(settings) as engine, engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:  # the URL may hold a password: name the failure, never the URL
            problems.append(
                Problem(
                    "error",
                    "state_unreachable",
                    f"the state database does not answer: {type(getattr(exc, 'orig', None) or exc).__name__}",
                    "state_url",
                )
            )
    if not settings.history_path.exists() and not settings.load_sample_if_empty:
        problems.append(
            Problem(
                "warning",
                "no_history",
                f"{settings.history_path} does not exist: import one with `oppscope history import`",
                "data_dir",
            )
        )
    return problems
