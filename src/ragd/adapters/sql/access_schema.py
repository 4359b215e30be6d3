"""Collections, groups, grants and API-key scopes (revision 0010), on the Store's metadata.

A document's collection and allow-list are columns of ``documents`` (``schema.py``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, PrimaryKeyConstraint, String, Table, Text

from ragd.adapters.sql.schema import Json, metadata

_ts = DateTime(timezone=True)

collections = Table(
    "collections",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("settings", Json, nullable=False),
    Column("created_at", _ts, nullable=False),
    Column("updated_at", _ts, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_collections"),
)

user_groups = Table(
    "user_groups",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", _ts, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_user_groups"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("group_id", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    PrimaryKeyConstraint("tenant_id", "group_id", "user_id", name="pk_group_members"),
    Index("ix_group_members_user", "tenant_id", "user_id"),
)

grants = Table(
    "grants",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("collection_id", String(64), nullable=False),
    Column("principal", String(80), nullable=False),
    Column("level", String(16), nullable=False),
    Column("created_at", _ts, nullable=False),
    PrimaryKeyConstraint("tenant_id", "collection_id", "principal", name="pk_grants"),
    Index("ix_grants_principal", "tenant_id", "principal"),
)

api_key_collections = Table(
    "api_key_collections",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("key_id", String(36), nullable=False),
    Column("collection_id", String(64), nullable=False),
    PrimaryKeyConstraint("key_id", "collection_id", name="pk_api_key_collections"),
)
