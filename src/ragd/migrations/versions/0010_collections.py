"""Collections, groups, grants, document allow-lists and API-key collection scopes.

Every document gets a ``collection_id``. Online-safe: the column is added nullable with a
server default (old code still inserting documents during a rolling deploy lands in the
default collection), the rows are backfilled, and only then is it constrained ``NOT
NULL``. SQLite cannot add a constraint to an existing column without copying the table
(which, with foreign keys on, would cascade-delete every chunk), so there the column is
added ``NOT NULL DEFAULT 'default'`` in one step, which SQLite applies to existing rows
without rewriting them. Every tenant gets its ``default`` collection and the grant that
keeps today's behaviour: every member (``*``) may write it.

``query_log.access`` keeps the fingerprint of the rights each question was answered
under. ``documents.readers`` is the allow-list (a JSON array of principals; NULL: none). On
Postgres the new tables get the tenant policies, and ``documents`` and ``chunks`` a
restrictive access policy (``ragd.adapters.sql.rls.access_statements``).

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ragd.adapters.sql.rls import (
    ACCESS_POLICY,
    access_statements,
    disable_tenant_rls,
    enable_tenant_rls,
)

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TENANT_TABLES = ("collections", "user_groups", "group_members", "grants", "api_key_collections")
ACCESS_TABLES = ("documents", "chunks")


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("settings", _json, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_collections"),
    )
    op.create_table(
        "user_groups",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_user_groups"),
    )
    op.create_table(
        "group_members",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "user_id", name="pk_group_members"),
    )
    op.create_index("ix_group_members_user", "group_members", ["tenant_id", "user_id"])
    op.create_table(
        "grants",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("collection_id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(80), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "collection_id", "principal", name="pk_grants"),
    )
    op.create_index("ix_grants_principal", "grants", ["tenant_id", "principal"])
    op.create_table(
        "api_key_collections",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("collection_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "collection_id", name="pk_api_key_collections"),
    )
    _add_collection_column()
    op.add_column("documents", sa.Column("readers", _json, nullable=True))
    op.create_index("ix_documents_tenant_collection", "documents", ["tenant_id", "collection_id"])
    op.add_column("query_log", sa.Column("access", sa.String(32), nullable=True))
    # Every existing tenant: its default collection, writable by every member.
    op.execute(
        "INSERT INTO collections (tenant_id, id, name, description, settings, created_at,"
        " updated_at) SELECT id, 'default', 'Default', '', '{}', created_at, created_at"
        " FROM tenants"
    )
    op.execute(
        "INSERT INTO grants (tenant_id, collection_id, principal, level, created_at)"
        " SELECT id, 'default', '*', 'write', created_at FROM tenants"
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    if op.get_bind().dialect.name == "postgresql":
        for table in ACCESS_TABLES:
            for stmt in access_statements(table):
                op.execute(stmt)


def _add_collection_column() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.add_column(
            "documents",
            sa.Column("collection_id", sa.String(64), nullable=False, server_default="default"),
        )
        return
    op.add_column(
        "documents",
        sa.Column("collection_id", sa.String(64), nullable=True, server_default="default"),
    )
    # Batched so a large table is not locked by one long UPDATE.
    while True:
        done = op.get_bind().exec_driver_sql(
            "UPDATE documents SET collection_id = 'default' WHERE id IN"
            " (SELECT id FROM documents WHERE collection_id IS NULL LIMIT 5000)"
        )
        if not done.rowcount:
            break
    op.alter_column("documents", "collection_id", nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ACCESS_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {ACCESS_POLICY} ON {table}")
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    op.drop_index("ix_documents_tenant_collection", table_name="documents")
    op.drop_column("query_log", "access")
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy of ``documents`` would cascade.
    op.drop_column("documents", "readers")
    op.drop_column("documents", "collection_id")
    op.drop_table("api_key_collections")
    op.drop_index("ix_grants_principal", table_name="grants")
    op.drop_table("grants")
    op.drop_index("ix_group_members_user", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("user_groups")
    op.drop_table("collections")
