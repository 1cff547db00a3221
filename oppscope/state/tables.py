"""Table definitions the stores query with SQLAlchemy Core.

The migrations under ``migrations/versions`` create these tables; a test compares the migrated schema with
this metadata so the two cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

analyses = Table(
    "analyses",
    metadata,
    Column("id", String(36), primary_key=True),
    # ISO 8601 UTC with microseconds: sorts as text, so listing by time needs no conversion.
    Column("created_at", String(32), nullable=False),
    Column("customer_name", Text, nullable=False),
    Column("customer_key", Text, nullable=False),
    Column("opportunity_name", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("close_date", String(10), nullable=False),
    Column("search_text", Text, nullable=False),
    Column("arr_usd", Float, nullable=False),
    Column("mrr_usd", Float, nullable=False),
    Column("confidence", String(8), nullable=False),
    # The analysis JSON: its input, every output and its provenance; the columns above are what lists filter on.
    Column("document", Text, nullable=False),
    Column("rerun_of", String(36), ForeignKey("analyses.id"), nullable=True),
    Column("created_by", Text, nullable=False),
    # NULL when no key was sent (NULLs never collide); a key is unique per caller, not across callers.
    Column("idempotency_key", Text, nullable=True),
    Column("request_sha256", String(64), nullable=True),
    UniqueConstraint("created_by", "idempotency_key", name="uq_analyses_idempotency"),
    Index("ix_analyses_created_at", "created_at"),
    Index("ix_analyses_customer_key", "customer_key"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", Text, nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
    Column("revoked_at", String(32), nullable=True),
    Column("last_used_at", String(32), nullable=True),
)

# Each applied migration and whether it is backward compatible (``expand``) or not (``contract``). Written by the
# migrations themselves as they run (``oppscope.state.migrate.record_revision``), so code older than the schema can
# tell whether it still runs on it without knowing the newer migrations' scripts.
schema_revisions = Table(
    "schema_revisions",
    metadata,
    Column("revision", String(32), primary_key=True),
    Column("down_revision", String(32), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("applied_at", String(32), nullable=False),
)
