"""Saved analyses and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
# The first schema: no older code exists to run on it.
kind = "contract"


def upgrade() -> None:
    op.create_table(
        "analyses",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("customer_name", sa.Text, nullable=False),
        sa.Column("customer_key", sa.Text, nullable=False),
        sa.Column("opportunity_name", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("close_date", sa.String(10), nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("arr_usd", sa.Float, nullable=False),
        sa.Column("mrr_usd", sa.Float, nullable=False),
        sa.Column("confidence", sa.String(8), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("rerun_of", sa.String(36), sa.ForeignKey("analyses.id"), nullable=True),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=True),
        sa.UniqueConstraint("created_by", "idempotency_key", name="uq_analyses_idempotency"),
    )
    op.create_index("ix_analyses_created_at", "analyses", ["created_at"])
    op.create_index("ix_analyses_customer_key", "analyses", ["customer_key"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=True),
        sa.Column("revoked_at", sa.String(32), nullable=True),
        sa.Column("last_used_at", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_index("ix_analyses_customer_key", "analyses")
    op.drop_index("ix_analyses_created_at", "analyses")
    op.drop_table("analyses")
