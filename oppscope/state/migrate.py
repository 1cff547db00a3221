"""Schema versions of the state database, applied with Alembic.

``upgrade`` is what ``oppscope db upgrade`` runs; ``require_current`` is what the app runs at start-up, so a
server never writes into a schema it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from oppscope.errors import ErrorKind, OppscopeError


class StateNotMigratedError(OppscopeError):
    """The database is missing, behind or ahead of this code's schema."""

    default_kind = ErrorKind.unavailable

    def __init__(self, current: str | None, head: str) -> None:
        self.current, self.head = current, head
        found = f"at revision {current}" if current else "not initialised"
        super().__init__(
            "state_not_migrated",
            f"the state database is {found}; this version of oppscope needs revision {head}: "
            "run `oppscope db upgrade`",
            {"current": current, "required": head},
        )


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "oppscope.state:migrations")
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
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


def upgrade(engine: Engine) -> UpgradeResult:
    """Bring the schema to the newest revision; a second run finds nothing to do."""
    before = current_revision(engine)
    command.upgrade(_config(engine), "head")
    after = current_revision(engine)
    assert after is not None
    return UpgradeResult(before=before, after=after)


def require_current(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise StateNotMigratedError(current, head)
