"""Sources that stay in sync: ``sources`` and ``source_items``, under row-level security.

One row per source (settings, sealed secret, schedule, the run's lease and the last run's
status) and one per item a source holds (document id, change key, validators, links, the
run that last saw it); see ``ragd.adapters.sql.sources_schema``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TENANT_TABLES = ("sources", "source_items")


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(64),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("config", _json, nullable=False),
        sa.Column("secret", sa.LargeBinary()),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.Column("run_number", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires_at", _ts),
        sa.Column("last_started_at", _ts),
        sa.Column("last_finished_at", _ts),
        sa.Column("last_outcome", sa.String(16)),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_counts", _json),
        sa.Column("next_run_at", _ts, nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_sources_tenant_name"),
    )
    op.create_index("ix_sources_due", "sources", ["enabled", "next_run_at"])
    op.create_table(
        "source_items",
        sa.Column(
            "source_id",
            sa.String(36),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(36)),
        sa.Column("change_key", sa.Text()),
        sa.Column("validators", _json),
        sa.Column("links", _json),
        sa.Column("seen_run", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_index("ix_source_items_seen", "source_items", ["source_id", "seen_run"])
    op.create_index("ix_source_items_document", "source_items", ["tenant_id", "document_id"])
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    op.drop_index("ix_source_items_document", table_name="source_items")
    op.drop_index("ix_source_items_seen", table_name="source_items")
    op.drop_table("source_items")
    op.drop_index("ix_sources_due", table_name="sources")
    op.drop_table("sources")
