"""Integrations: webhook subscriptions, their outbox of deliveries, prompt templates.

``webhook_subscriptions`` (per tenant: URL, secret, event types), ``webhook_events`` (one
row per event, written in the transaction of the state change it reports) and
``webhook_deliveries`` (one row per event and subscription: the outbox the worker's
delivery loop drains, and the delivery log); ``prompt_templates`` (per tenant and scope,
every change a new version, the newest in force). All four are tenant-scoped: row-level security
on Postgres, and they go with their tenant (``ON DELETE CASCADE``).

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TENANT_TABLES = (
    "webhook_subscriptions",
    "webhook_events",
    "webhook_deliveries",
    "prompt_templates",
)


def _tenant() -> sa.Column[str]:
    return sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant(),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", _json, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_index("ix_webhook_subscriptions_tenant", "webhook_subscriptions", ["tenant_id"])
    op.create_table(
        "webhook_events",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column(
            "subscription_id",
            sa.String(36),
            sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "event_row", _pk, sa.ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", _ts),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("delivered_at", _ts),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_index(
        "ix_webhook_deliveries_order",
        "webhook_deliveries",
        ["subscription_id", "subject", "state", "id"],
    )
    op.create_index("ix_webhook_deliveries_tenant", "webhook_deliveries", ["tenant_id", "id"])
    op.create_table(
        "prompt_templates",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", _json, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.UniqueConstraint("tenant_id", "scope", "version", name="uq_prompt_templates_version"),
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    op.drop_table("prompt_templates")
    op.drop_index("ix_webhook_deliveries_tenant", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_order", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_subscriptions")
