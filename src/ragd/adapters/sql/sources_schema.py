"""The sources' tables (revision 0005): one row per source, one per item it holds.

``sources`` carries the source's settings, its sealed secret, its schedule, the lease of
the run in progress and the last run's status; ``source_items`` what ragd knows of each
item (document id, change key, a web page's validators and links) and the run that last
saw it. Both are tenant-scoped (row-level security on Postgres).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ragd.adapters.sql.schema import Json, metadata

sources = Table(
    "sources",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("config", Json, nullable=False),
    Column("secret", LargeBinary),
    Column("interval_seconds", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("run_number", BigInteger, nullable=False),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("last_started_at", DateTime(timezone=True)),
    Column("last_finished_at", DateTime(timezone=True)),
    Column("last_outcome", String(16)),
    Column("last_error", Text),
    Column("last_counts", Json),
    Column("next_run_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "name", name="uq_sources_tenant_name"),
    Index("ix_sources_due", "enabled", "next_run_at"),
)

source_items = Table(
    "source_items",
    metadata,
    Column("source_id", String(36), ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("document_id", String(36)),
    Column("change_key", Text),
    Column("validators", Json),
    Column("links", Json),
    Column("seen_run", BigInteger, nullable=False),
    Column("error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_source_items_seen", "source_id", "seen_run"),
    Index("ix_source_items_document", "tenant_id", "document_id"),
)
