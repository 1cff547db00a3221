"""Schema versions of the state database, applied with Alembic, written expand/contract.

``upgrade`` is what ``oppscope db upgrade`` runs; ``require_compatible`` is what the app runs at start-up, so a
server never writes into a schema it does not know how to use.

Every migration declares a ``kind``. An ``expand`` migration is backward compatible (an added table, a nullable
column, an index): the code of the revision before it still runs on the migrated schema. A ``contract`` one is not
(a drop, a rename, a new constraint). The migrations record their kind in the database as they run
(``schema_revisions``), so code *older* than the schema can tell, without the newer scripts, that everything beyond
its own head is ``expand`` and keep serving: that is what lets the old and the new release run side by side during a
deploy, and a rollback run on the migrated schema. Code *newer* than the schema accepts it when all it has not seen
applied yet are ``contract`` migrations: code that ships a contract migration no longer uses what it removes, so a
deploy can defer it (``upgrade(..., compatible_with=old_head)``) until no older release needs what it drops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, delete, insert, inspect, select

from oppscope.errors import ErrorKind, OppscopeError
from oppscope.state.db import utc_now
from oppscope.state.tables import schema_revisions


class MigrationKind(StrEnum):
    expand = "expand"
    contract = "contract"


class StateNotMigratedError(OppscopeError):
    """The database is missing, or at a revision this code cannot run on."""

    default_kind = ErrorKind.unavailable

    def __init__(self, current: str | None, head: str, reason: str = "run `oppscope db upgrade`") -> None:
        self.current, self.head = current, head
        found = f"at revision {current}" if current else "not initialised"
        super().__init__(
            "state_not_migrated",
            f"the state database is {found}; this version of oppscope needs revision {head}: {reason}",
            {"current": current, "required": head},
        )


class MigrationPolicyError(OppscopeError):
    """A requested upgrade would leave a release that must keep running unable to run."""

    default_kind = ErrorKind.conflict


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str
    applied: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Compatibility:
    """Whether this code runs on the database's schema, and why."""

    current: str | None
    head: str
    ok: bool
    reason: str
    newer: tuple[str, ...] = field(default=())  # applied revisions this code does not know (all expand when ok)
    pending: tuple[str, ...] = field(default=())  # this code's revisions not applied yet (all contract when ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "head": self.head,
            "ok": self.ok,
            "reason": self.reason,
            "newer": list(self.newer),
            "pending": list(self.pending),
        }


# The package's migrations; a test points this at a copy with extra revisions to play a newer release.
SCRIPT_LOCATION = "oppscope.state:migrations"


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["engine"] = engine
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def script_kind(script: Script) -> MigrationKind:
    """A migration that does not say is taken as ``contract``: assuming compatibility would be the unsafe guess."""
    return MigrationKind(getattr(script.module, "kind", MigrationKind.contract))


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def is_known_revision(revision: str) -> bool:
    """Whether this code ships ``revision``: a database at an unknown one was written by a newer version."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def record_revision(ctx: MigrationContext, step: MigrationInfo, heads: Iterable[str], run_args: Any) -> None:
    """Alembic's ``on_version_apply`` hook: keep each applied revision's kind in the migrated database itself."""
    connection = ctx.connection
    assert connection is not None
    schema_revisions.create(connection, checkfirst=True)
    if step.is_stamp or step.up_revision_id is None:
        return
    connection.execute(delete(schema_revisions).where(schema_revisions.c.revision == step.up_revision_id))
    script = step.up_revision
    if step.is_upgrade and isinstance(script, Script):
        down = script.down_revision
        connection.execute(
            insert(schema_revisions).values(
                revision=script.revision,
                down_revision=down if isinstance(down, str) else None,
                kind=script_kind(script).value,
                applied_at=utc_now(),
            )
        )


def _recorded(connection: Connection) -> dict[str, tuple[str | None, str]]:
    if not inspect(connection).has_table(schema_revisions.name):
        return {}
    rows = connection.execute(
        select(schema_revisions.c.revision, schema_revisions.c.down_revision, schema_revisions.c.kind)
    )
    return {revision: (down, kind) for revision, down, kind in rows}


def _known(scripts: ScriptDirectory) -> set[str]:
    return {s.revision for s in scripts.walk_revisions()}


def _unapplied(scripts: ScriptDirectory, current: str | None, head: str) -> list[Script]:
    """This code's revisions after ``current`` up to ``head``, oldest first."""
    lower = current if current is not None else "base"
    return [s for s in reversed(list(scripts.iterate_revisions(head, lower))) if s.revision != current]


def compatibility(engine: Engine) -> Compatibility:
    scripts = _scripts()
    head = head_revision()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        recorded = _recorded(connection)
    if current == head:
        return Compatibility(current, head, True, f"schema at {head}")
    if current is None:
        return Compatibility(current, head, False, "run `oppscope db upgrade`")
    if current in _known(scripts):
        pending = _unapplied(scripts, current, head)
        names = tuple(s.revision for s in pending)
        blocking = [s.revision for s in pending if script_kind(s) is MigrationKind.expand]
        if blocking:
            return Compatibility(
                current, head, False, f"run `oppscope db upgrade` (needs {', '.join(blocking)})", pending=names
            )
        return Compatibility(
            current, head, True, f"contract migrations {', '.join(names)} not applied yet", pending=names
        )
    newer: list[str] = []
    revision: str | None = current
    while revision != head:
        if revision is None or revision not in recorded or len(newer) > len(recorded):
            return Compatibility(
                current, head, False, f"the schema is at an unknown revision {current}: upgrade oppscope"
            )
        down, kind = recorded[revision]
        if kind != MigrationKind.expand:
            return Compatibility(
                current,
                head,
                False,
                f"revision {revision} is a contract migration this version cannot run on: upgrade oppscope",
                newer=(revision, *newer),
            )
        newer.insert(0, revision)
        revision = down
    return Compatibility(current, head, True, f"newer expand migrations {', '.join(newer)}", newer=tuple(newer))


def require_compatible(engine: Engine) -> Compatibility:
    found = compatibility(engine)
    if not found.ok:
        raise StateNotMigratedError(found.current, found.head, found.reason)
    return found


def _target(scripts: ScriptDirectory, current: str | None, head: str, compatible_with: str) -> tuple[str, list[str]]:
    """The furthest revision a release at ``compatible_with`` still runs on, and the contract migrations held back.

    Expand migrations all apply. A contract migration applies only when ``compatible_with`` already includes it (that
    release no longer needs what it drops); from the first one that it does not, the rest wait for a later deploy.
    """
    known_by_old = {s.revision for s in scripts.iterate_revisions(compatible_with, "base")}
    target = current
    for index, script in enumerate(pending := _unapplied(scripts, current, head)):
        if script_kind(script) is MigrationKind.contract and script.revision not in known_by_old:
            held = [s.revision for s in pending[index:]]
            expands = [s.revision for s in pending[index:] if script_kind(s) is MigrationKind.expand]
            if expands:
                raise MigrationPolicyError(
                    "contract_before_expand",
                    f"the contract migration {script.revision} must wait until no older release needs it, but the "
                    f"expand migrations {', '.join(expands)} after it are needed now: deploy a release ending at "
                    f"{script.down_revision} first",
                    {"contract": script.revision, "expand": expands},
                )
            return target or "base", held
        target = script.revision
    return target or "base", []


def upgrade(engine: Engine, compatible_with: str | None = None) -> UpgradeResult:
    """Bring the schema to the newest revision (or the newest that ``compatible_with``'s code still runs on).

    A second run finds nothing to do.
    """
    scripts = _scripts()
    before, head, known = current_revision(engine), head_revision(), _known(scripts)
    if compatible_with is not None and compatible_with not in known:
        raise MigrationPolicyError(
            "unknown_revision",
            f"revision {compatible_with} is not one of this release's migrations",
            {"revision": compatible_with},
        )
    if before is not None and before not in known:
        # The schema is already beyond this code: nothing of ours to apply, if we can run on it at all.
        require_compatible(engine)
        return UpgradeResult(before=before, after=before)
    target, deferred = (head, []) if compatible_with is None else _target(scripts, before, head, compatible_with)
    applied = [s.revision for s in _unapplied(scripts, before, target)] if target != "base" else []
    command.upgrade(_config(engine), target)
    after = current_revision(engine)
    assert after is not None
    return UpgradeResult(before=before, after=after, applied=tuple(applied), deferred=tuple(deferred))
