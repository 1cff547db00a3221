"""Alembic environment: runs against the engine ``oppscope.state.migrate`` hands over, never a config file."""

from __future__ import annotations

from alembic import context

from oppscope.state.migrate import record_revision
from oppscope.state.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    # render_as_batch: SQLite cannot ALTER most things in place; batch mode copies the table instead.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        on_version_apply=record_revision,
    )
    context.run_migrations()
