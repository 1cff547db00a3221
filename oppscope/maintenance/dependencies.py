"""The installed packages against ``uv.lock``, and the locked packages against the known vulnerabilities.

The lock is found beside the running code: a checkout's (an editable install) or a release's ``src/`` (a release
is ``<id>/src`` plus ``<id>/venv``, installed from that lock). The comparison is exact: every installed
distribution the lock names must have the lock's version. The audit runs pip-audit on the lock as exported
by uv (what a release installs: no dev extras), pinned, without resolving; it needs the vulnerability service
(PyPI's JSON API), and a dependency it could not look up makes the audit fail rather than pass unaudited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import oppscope
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.programs import find_program, uv_binary

LOCK_FILE = "uv.lock"
AUDIT_TIMEOUT_S = 600.0
OUTDATED_TIMEOUT_S = 120.0


def normalized(name: str) -> str:
    """PEP 503's form, as uv.lock writes names."""
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def project_dir() -> Path | None:
    """Where the running code's ``uv.lock`` is: the checkout of an editable install, or the release's source."""
    for candidate in (Path(oppscope.__file__).resolve().parents[1], Path(sys.prefix).resolve().parent / "src"):
        if (candidate / LOCK_FILE).is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    return None


@dataclass(frozen=True)
class LockComparison:
    locked: int
    checked: int  # installed distributions the lock names
    mismatched: dict[str, tuple[str, list[str]]]  # name -> (installed, the lock's versions)
    unlocked: list[str]  # installed, but not in the lock

    @property
    def ok(self) -> bool:
        return not self.mismatched


def locked_versions(lock: Path) -> dict[str, set[str]]:
    """Each locked package's versions: a lock may pin several, one per range of Python versions."""
    versions: dict[str, set[str]] = {}
    for package in tomllib.loads(lock.read_text(encoding="utf-8")).get("package", []):
        source = package.get("source", {})
        if "version" in package and "editable" not in source and "virtual" not in source:
            versions.setdefault(normalized(str(package["name"])), set()).add(str(package["version"]))
    return versions


def installed_versions() -> dict[str, str]:
    """This interpreter's distributions (the project itself left out: the lock pins it by path, not version)."""
    found = {normalized(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
    found.pop("oppscope", None)
    return found


def compare_lock(lock: Path, installed: dict[str, str] | None = None) -> LockComparison:
    locked = locked_versions(lock)
    present = installed_versions() if installed is None else installed
    named = {name: version for name, version in present.items() if name in locked}
    return LockComparison(
        locked=len(locked),
        checked=len(named),
        mismatched={
            name: (version, sorted(locked[name]))
            for name, version in sorted(named.items())
            if version not in locked[name]
        },
        unlocked=sorted(name for name in present if name not in locked),
    )


def _run(command: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OppscopeError(
            "command_timeout", f"{Path(command[0]).name} did not finish within {timeout:g} s", kind=ErrorKind.timeout
        ) from exc


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def lock_is_current(project: Path) -> tuple[bool, str]:
    """``uv lock --check``: does the lock still match pyproject.toml?"""
    done = _run([uv_binary(), "lock", "--check", "--offline", "--quiet", "--project", str(project)], 120)
    return done.returncode == 0, "" if done.returncode == 0 else _last_line(done.stderr or done.stdout)


def outdated() -> tuple[list[dict[str, str]] | None, str]:
    """Installed packages with a newer release on the index (``uv pip list --outdated``); None when the index
    cannot be asked, with the reason."""
    done = _run(
        [uv_binary(), "pip", "list", "--outdated", "--format", "json", "--python", sys.executable], OUTDATED_TIMEOUT_S
    )
    if done.returncode != 0:
        return None, _last_line(done.stderr)
    try:
        rows: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    except ValueError:
        return None, "uv pip list answered something that is not JSON"
    return [
        {"name": str(r["name"]), "version": str(r["version"]), "latest": str(r["latest_version"])} for r in rows
    ], ""


@dataclass(frozen=True)
class Audit:
    audited: int
    vulnerabilities: list[dict[str, Any]]  # {name, version, id, fix_versions, aliases}
    unaudited: dict[str, str] = field(default_factory=dict)  # name -> why it could not be looked up
    error: str | None = None  # pip-audit itself failed (no service, bad input)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.vulnerabilities and not self.unaudited


def audit_lock(project: Path, env: dict[str, str] | None = None) -> Audit:
    """pip-audit over ``uv export --frozen`` of the lock (what a release installs), pinned and not resolved."""
    exported = _run(
        [
            uv_binary(),
            "export",
            "--frozen",
            "--format",
            "requirements-txt",
            "--no-emit-project",
            "--no-dev",
            "--quiet",
            "--project",
            str(project),
        ],
        120,
    )
    if exported.returncode != 0:
        return Audit(0, [], error=f"uv export failed: {_last_line(exported.stderr)}")
    pip_audit = find_program("pip-audit")
    with tempfile.TemporaryDirectory(prefix="oppscope-audit-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(exported.stdout, encoding="utf-8")
        done = _run(
            [
                str(pip_audit or "pip-audit"),
                "--requirement",
                str(requirements),
                "--no-deps",
                "--disable-pip",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--cache-dir",
                str(Path(scratch) / "cache"),
            ],
            AUDIT_TIMEOUT_S,
            env={**os.environ, **(env or {})},
        )
    try:
        body: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return Audit(0, [], error=f"pip-audit failed (exit {done.returncode}): {_last_line(done.stderr)}")
    vulnerabilities, unaudited, audited = [], {}, 0
    for dependency in body.get("dependencies", []):
        name = str(dependency.get("name"))
        if "skip_reason" in dependency:
            unaudited[name] = str(dependency["skip_reason"])
            continue
        audited += 1
        for vuln in dependency.get("vulns", []):
            vulnerabilities.append(
                {
                    "name": name,
                    "version": dependency.get("version"),
                    "id": vuln.get("id"),
                    "fix_versions": vuln.get("fix_versions", []),
                    "aliases": vuln.get("aliases", []),
                }
            )
    return Audit(audited, vulnerabilities, unaudited)
