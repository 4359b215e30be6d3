"""Integration tables (revision 0007): webhook subscriptions, their outbox of deliveries,
and per-tenant prompt templates. Declared on the Store's metadata; every table is
tenant-scoped (row-level security on Postgres) and goes with its tenant (``ON DELETE
CASCADE``)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ragd.adapters.sql.schema import Json, PkInt, metadata


def _tenant() -> Column[str]:
    return Column(
        "tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    _tenant(),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", Json, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("description", String(500), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_subscriptions_tenant", "tenant_id"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    _tenant(),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    _tenant(),
    Column(
        "subscription_id",
        String(36),
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_row", PkInt, ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    # The loop's scan: pending and due; the order check: pending by (subscription, subject).
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_order", "subscription_id", "subject", "state", "id"),
    Index("ix_webhook_deliveries_tenant", "tenant_id", "id"),
)

prompt_templates = Table(
    "prompt_templates",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    _tenant(),
    Column("scope", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Json, nullable=False),
    Column("created_by", String(64)),
    Column("note", String(500), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "scope", "version", name="uq_prompt_templates_version"),
)

TENANT_TABLES = (
    "webhook_subscriptions",
    "webhook_events",
    "webhook_deliveries",
    "prompt_templates",
)
