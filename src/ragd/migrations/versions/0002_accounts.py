"""Accounts and accounting: tenant limits, users, API keys, audit log, query log, usage.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TENANT_LIMITS = [
    ("rate_limit_rpm", sa.Integer()),
    ("max_documents", sa.BigInteger()),
    ("max_bytes", sa.BigInteger()),
    ("max_llm_tokens_month", sa.BigInteger()),
]


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        for name, type_ in _TENANT_LIMITS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(64),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_index("ix_users_tenant", "users", ["tenant_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(64),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False, unique=True),
        sa.Column("secret_hash", sa.Text, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("expires_at", _ts),
        sa.Column("revoked_at", _ts),
        sa.Column("last_used_at", _ts),
    )
    op.create_index("ix_api_keys_tenant_user", "api_keys", ["tenant_id", "user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.Text),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("detail", _json, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_index("ix_audit_log_tenant_created", "audit_log", ["tenant_id", "created_at"])
    op.create_table(
        "query_log",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_index("ix_query_log_tenant_user", "query_log", ["tenant_id", "user_id"])
    op.create_table(
        "usage_events",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_index("ix_usage_events_tenant_created", "usage_events", ["tenant_id", "created_at"])


def downgrade() -> None:
    for table in ("usage_events", "query_log", "audit_log", "api_keys", "users"):
        op.drop_table(table)
    with op.batch_alter_table("tenants") as batch:
        for name, _ in reversed(_TENANT_LIMITS):
            batch.drop_column(name)
