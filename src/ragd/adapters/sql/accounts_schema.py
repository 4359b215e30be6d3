"""Identity and accounting tables (revision 0002): users, API keys, audit log, query log,
LLM usage. Declared on the Store's metadata, beside the document tables."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from ragd.adapters.sql.schema import Json, PkInt, metadata

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320)),
    Column("role", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_users_tenant", "tenant_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    # Revision 0012: the role the key is limited to (NULL: its user's).
    Column("role", String(32)),
    Index("ix_api_keys_tenant_user", "tenant_id", "user_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(64)),
    Column("action", String(64), nullable=False),
    Column("resource", Text),
    Column("outcome", String(32), nullable=False),
    Column("client_ip", String(64)),
    Column("request_id", String(128)),
    Column("detail", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_audit_log_tenant_created", "tenant_id", "created_at"),
)

query_log = Table(
    "query_log",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(64)),
    Column("request_id", String(128)),
    Column("kind", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Revision 0009: the rights fingerprint the question was answered under.
    Column("access", String(32)),
    Index("ix_query_log_tenant_user", "tenant_id", "user_id"),
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(64)),
    Column("request_id", String(128)),
    Column("model", String(200), nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_usage_events_tenant_created", "tenant_id", "created_at"),
)
