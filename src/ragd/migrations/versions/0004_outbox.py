"""Outbox of an external index (Qdrant): its writes as Store rows, and the sync's state.

``index_outbox`` holds one row per document write, committed in the Store transaction that
changes the chunks; ``index_sync_tenants`` the per-tenant counters the index's version
token is made of; ``index_sync_state`` the sync lease, the epoch, the reindex hold and the
last reconcile's drift (``ragd.adapters.index.qdrant.outbox``). The two tenant-scoped tables are
put under row-level security on Postgres. Created on every deployment (a few empty
tables) so that switching ``VECTOR_STORE_TYPE`` needs no migration.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)
TENANT_TABLES = ("index_outbox", "index_sync_tenants")


def upgrade() -> None:
    op.create_table(
        "index_outbox",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("payload", sa.LargeBinary()),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("applied_at", _ts),
    )
    # The sync reads the oldest unapplied rows; searches look up a tenant's documents
    # among them (tombstones). Applied rows are few (deleted unless a reindex holds them).
    op.create_index(
        "ix_index_outbox_pending",
        "index_outbox",
        ["id"],
        postgresql_where=sa.text("applied_at IS NULL"),
        sqlite_where=sa.text("applied_at IS NULL"),
    )
    op.create_index("ix_index_outbox_tenant_document", "index_outbox", ["tenant_id", "document_id"])
    op.create_table(
        "index_sync_tenants",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
    )
    state = op.create_table(
        "index_sync_state",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.Text()),
        sa.Column("owner", sa.String(200)),
        sa.Column("expires_at", _ts),
    )
    op.bulk_insert(
        state,
        [
            {"key": "lease", "value": None},
            {"key": "epoch", "value": "0"},
            {"key": "hold", "value": None},
            {"key": "drift", "value": None},
        ],
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    op.drop_table("index_sync_state")
    op.drop_table("index_sync_tenants")
    op.drop_index("ix_index_outbox_tenant_document", table_name="index_outbox")
    op.drop_index("ix_index_outbox_pending", table_name="index_outbox")
    op.drop_table("index_outbox")
