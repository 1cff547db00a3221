"""Expand/contract: code older than the schema runs on newer expand migrations, never on a newer contract one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from oppscope.config import load_settings
from oppscope.state import migrate
from oppscope.state.db import state_engine
from oppscope.state.migrate import MigrationPolicyError, StateNotMigratedError, compatibility, require_compatible

PACKAGE_MIGRATIONS = Path(migrate.__file__).parent / "migrations"

REVISION = '''"""A revision of a newer release."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
kind = "{kind}"


def upgrade() -> None:
    op.create_table("extra_{revision}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("extra_{revision}")
'''


def newer_release(tmp_path: Path, *revisions: tuple[str, str]) -> str:
    """A copy of the package's migrations with ``(revision, kind)`` appended, as a newer release would ship them."""
    target = tmp_path / "migrations"
    shutil.copytree(PACKAGE_MIGRATIONS, target, ignore=shutil.ignore_patterns("__pycache__"))
    down = migrate.head_revision()
    for revision, kind in revisions:
        (target / "versions" / f"{revision}_extra.py").write_text(
            REVISION.format(revision=revision, down=down, kind=kind), encoding="utf-8"
        )
        down = revision
    return str(target)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with state_engine(load_settings(data_dir=tmp_path / "data")) as engine:
        migrate.upgrade(engine)
        yield engine


def test_older_code_runs_on_newer_expand_migrations(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_head = migrate.head_revision()
    with monkeypatch.context() as newer:
        newer.setattr(migrate, "SCRIPT_LOCATION", newer_release(tmp_path, ("a002", "expand"), ("a003", "expand")))
        result = migrate.upgrade(engine)
        assert (result.before, result.after, result.applied) == (old_head, "a003", ("a002", "a003"))
    found = require_compatible(engine)  # the package's own code, whose head is older
    assert (found.current, found.head, found.newer) == ("a003", old_head, ("a002", "a003"))
    assert migrate.upgrade(engine).changed is False  # old code's `db upgrade` leaves the newer schema alone
    assert inspect(engine).has_table("extra_a003")


def test_older_code_refuses_a_newer_contract_migration(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as newer:
        newer.setattr(migrate, "SCRIPT_LOCATION", newer_release(tmp_path, ("a002", "expand"), ("a003", "contract")))
        migrate.upgrade(engine)
    with pytest.raises(StateNotMigratedError, match="a003 is a contract migration"):
        require_compatible(engine)


def test_a_deploy_holds_back_contract_migrations_the_serving_release_lacks(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_head = migrate.head_revision()
    monkeypatch.setattr(migrate, "SCRIPT_LOCATION", newer_release(tmp_path, ("a002", "expand"), ("a003", "contract")))
    result = migrate.upgrade(engine, compatible_with=old_head)
    assert (result.after, result.applied, result.deferred) == ("a002", ("a002",), ("a003",))
    found = require_compatible(engine)  # the new code runs before its contract migration too
    assert found.pending == ("a003",)
    # the next deploy replaces a release that already knows a003: now it applies
    assert migrate.upgrade(engine, compatible_with="a003").applied == ("a003",)
    assert compatibility(engine).current == "a003"


def test_a_contract_before_a_needed_expand_is_refused(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_head = migrate.head_revision()
    monkeypatch.setattr(migrate, "SCRIPT_LOCATION", newer_release(tmp_path, ("a002", "contract"), ("a003", "expand")))
    with pytest.raises(MigrationPolicyError, match="deploy a release ending at"):
        migrate.upgrade(engine, compatible_with=old_head)
    assert compatibility(engine).current == old_head
    with pytest.raises(StateNotMigratedError, match="a003"):
        require_compatible(engine)  # the new code needs its expand migration applied
