"""Releases side by side under ``settings.releases_path``: install from the lock, describe, link, prune.

A release is ``<releases_path>/<id>/`` holding ``src/`` (the exported source: a checkout's files or a git ref's
tree), ``venv/`` (installed from that source's ``uv.lock`` with ``uv sync --frozen --no-dev --no-editable``, so it
runs exactly the tested versions and never reads the source again) and ``release.json``. The links ``current`` and
``previous`` name what serves and what a rollback returns to; a missing link means the oppscope installed beside
the supervisor. Links are replaced with one ``rename``, so a reader sees the old target or the new, never none.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from oppscope.config import Settings
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.programs import uv_binary

LinkName = Literal["current", "previous"]
LINKS: tuple[LinkName, ...] = ("current", "previous")
METADATA = "release.json"
# What a checkout that is not a git repository never needs in a release: environments, data, caches.
_NOT_SOURCE = (".venv", ".git", "data", "releases", "backups", "config", "node_modules", "__pycache__", "*.pyc")
_RELEASE_ID = re.compile(r"^\d{8}T\d{6}Z-[A-Za-z0-9._-]{1,40}$")


class ReleaseError(OppscopeError):
    default_kind = ErrorKind.invalid


@dataclass(frozen=True)
class Release:
    """What ``release.json`` records: enough to tell what runs and to reproduce it."""

    id: str
    version: str  # the package version in the source's pyproject.toml
    ref: str | None  # the git ref asked for with --version, if any
    commit: str | None  # the git commit of the source (None outside git)
    dirty: bool  # a checkout with uncommitted changes
    source: str  # the checkout's path, or "git:<repository>@<ref>"
    created_at: str
    schema_head: str  # the state database revision this release's code is written for
    uv_lock_sha256: str
    python: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Releases:
    """The release directory of one installation."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> Releases:
        return cls(settings.releases_path.absolute())

    def path(self, release_id: str) -> Path:
        if not _RELEASE_ID.match(release_id):
            raise ReleaseError("invalid_release_id", f"{release_id!r} is not a release id", {"release": release_id})
        return self.root / release_id

    def venv(self, release_id: str) -> Path:
        return self.path(release_id) / "venv"

    def oppscope(self, release_id: str) -> Path:
        return self.venv(release_id) / "bin" / "oppscope"

    def get(self, release_id: str) -> Release:
        file = self.path(release_id) / METADATA
        try:
            return Release(**json.loads(file.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise ReleaseError(
                "unknown_release",
                f"no release {release_id} in {self.root}",
                {"release": release_id},
                kind=ErrorKind.not_found,
            ) from exc

    def all(self) -> list[Release]:
        """Every complete release (one with its ``release.json``), oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            self.get(p.name) for p in self.root.iterdir() if _RELEASE_ID.match(p.name) and (p / METADATA).is_file()
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def link(self, name: LinkName) -> str | None:
        """The release a link points at, ``None`` when absent (the installed oppscope)."""
        target = self.root / name
        return str(target.readlink()) if target.is_symlink() else None

    def set_link(self, name: LinkName, release_id: str | None) -> None:
        """Point ``name`` at a release (``None``: remove it) in one atomic step."""
        target = self.root / name
        if release_id is None:
            target.unlink(missing_ok=True)
            return
        self.path(release_id)  # validates the id
        temporary = self.root / f".{name}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(release_id)  # relative: the directory can move as a whole
        temporary.replace(target)

    def promote(self, release_id: str | None) -> None:
        """``release_id`` becomes current, what was current becomes previous."""
        old = self.link("current")
        if old == release_id:
            return
        self.set_link("previous", old)
        self.set_link("current", release_id)

    def prune(self, keep: int) -> list[str]:
        """Remove all but the newest ``keep`` releases; the linked ones always stay."""
        linked = {self.link(name) for name in LINKS}
        releases = self.all()
        removable = [r.id for r in releases[: max(len(releases) - keep, 0)] if r.id not in linked]
        for release_id in removable:
            shutil.rmtree(self.path(release_id))
        return removable

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One deploy or rollback at a time on this installation."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ReleaseError(
                    "deploy_in_progress",
                    "another deploy or rollback is running",
                    {"lock": str(self.root / ".lock")},
                    kind=ErrorKind.conflict,
                ) from exc
            yield


def _run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReleaseError("install_failed", f"{args[0]} could not run: {exc}", kind=ErrorKind.internal) from exc
    if done.returncode != 0:
        raise ReleaseError(
            "install_failed",
            f"`{' '.join(args[:3])} …` failed (exit {done.returncode})",
            {"command": args, "stderr": done.stderr[-2000:]},
            kind=ErrorKind.internal,
        )
    return done.stdout


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=60)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def export_checkout(checkout: Path, destination: Path) -> None:
    """Copy a checkout's files: in git, the tracked and untracked ones its ``.gitignore`` keeps (what a commit of
    the working tree would hold, so an uncommitted fix is deployed too); otherwise all but environments and data."""
    if _git(checkout, "rev-parse", "HEAD") is None:
        shutil.copytree(checkout, destination, ignore=shutil.ignore_patterns(*_NOT_SOURCE), symlinks=True)
        return
    listed = _git(checkout, "ls-files", "-z", "--cached", "--others", "--exclude-standard") or ""
    for name in filter(None, listed.split("\0")):
        source = checkout / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree: not part of what is deployed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def export_ref(repository: Path, commit: str, destination: Path) -> None:
    """The tree of ``commit``, as ``git archive`` writes it."""
    destination.mkdir(parents=True)
    archive = destination.parent / "source.tar"
    _run(["git", "-C", str(repository), "archive", "--format=tar", "-o", str(archive), commit])
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    archive.unlink()


def _schema_head(venv: Path) -> str:
    code = "from oppscope.state.migrate import head_revision; print(head_revision())"
    # -I: isolated, so an ``oppscope/`` directory where this runs cannot stand in for the release's own code
    return _run([str(venv / "bin" / "python"), "-I", "-c", code]).strip()


@dataclass(frozen=True)
class Source:
    """Where a release comes from, resolved before anything is written."""

    checkout: Path | None
    repository: Path | None
    ref: str | None
    commit: str | None
    dirty: bool

    @property
    def description(self) -> str:
        return str(self.checkout) if self.checkout else f"git:{self.repository}@{self.ref}"


def resolve_source(checkout: Path | None, ref: str | None, repository: Path | None = None) -> Source:
    if (checkout is None) == (ref is None):
        raise ReleaseError("invalid_input", "give a checkout (--path) or a version (--version), and only one")
    if checkout is not None:
        checkout = checkout.absolute()
        if not (checkout / "pyproject.toml").is_file():
            raise ReleaseError("not_a_checkout", f"{checkout} has no pyproject.toml", {"path": str(checkout)})
        commit = _git(checkout, "rev-parse", "HEAD")
        dirty = commit is not None and bool(_git(checkout, "status", "--porcelain"))
        return Source(checkout, None, None, commit, dirty)
    assert ref is not None
    repo = (repository or Path.cwd()).absolute()
    found = _git(repo, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
    if found is None:
        raise ReleaseError("unknown_version", f"{ref!r} is not a tag, branch or commit of {repo}", {"version": ref})
    return Source(None, repo, ref, found, False)


def install(releases: Releases, source: Source, now: datetime | None = None) -> Release:
    """Export the source, install it from its lock into its own venv, and record it; a failure leaves nothing.

    ``release.json`` is written last: a directory without it is no release (``all`` skips it).
    """
    moment = now or datetime.now(UTC)
    label = source.commit[:12] if source.commit else "local"
    release_id = f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{label}"
    home = releases.path(release_id)
    releases.root.mkdir(parents=True, exist_ok=True)
    try:
        home.mkdir()
    except FileExistsError as exc:
        raise ReleaseError("release_exists", f"release {release_id} exists already", {"release": release_id}) from exc
    try:
        code = home / "src"
        if source.checkout is not None:
            export_checkout(source.checkout, code)
        else:
            assert source.repository is not None and source.commit is not None
            export_ref(source.repository, source.commit, code)
        lock = code / "uv.lock"
        if not lock.is_file():
            raise ReleaseError("no_lock", f"the release source has no uv.lock ({source.description})")
        version = str(tomllib.loads((code / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])
        # The venv is built where it stays: its scripts name their interpreter by absolute path.
        venv = home / "venv"
        env = os.environ | {"UV_PROJECT_ENVIRONMENT": str(venv)}
        # Bytecode compiled now, not by the first start of each worker: the new instance starts faster.
        command = [uv_binary(), "sync", "--frozen", "--no-dev", "--no-editable", "--compile-bytecode", "--quiet"]
        command += ["--project", str(code)]
        _run([*command, "--python", sys.executable], env=env)
        python = venv / "bin" / "python"
        release = Release(
            id=release_id,
            version=version,
            ref=source.ref,
            commit=source.commit,
            dirty=source.dirty,
            source=source.description,
            created_at=moment.isoformat(),
            schema_head=_schema_head(venv),
            uv_lock_sha256=hashlib.sha256(lock.read_bytes()).hexdigest(),
            python=_run([str(python), "-I", "-c", "import sys; print(sys.version.split()[0])"]).strip(),
        )
        temporary = home / f".{METADATA}.tmp"
        temporary.write_text(json.dumps(release.as_dict(), indent=2) + "\n", encoding="utf-8")
        temporary.replace(home / METADATA)
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    return release
