"""Conversation tables (revision 0006): conversations, answered questions (turns) and the
feedback on them. Declared on the Store's metadata, beside the document tables; all three
are tenant-scoped and under row-level security on Postgres."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, PrimaryKeyConstraint, String, Table, Text

from ragd.adapters.sql.schema import Json, metadata

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(64)),
    Column("title", String(200), nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_conversations_tenant_user", "tenant_id", "user_id", "updated_at"),
)

answer_turns = Table(
    "answer_turns",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("user_id", String(64)),
    Column("conversation_id", String(36)),
    Column("kind", String(16), nullable=False),
    Column("question", Text, nullable=False),
    Column("search_query", Text, nullable=False),
    Column("grounded", Boolean, nullable=False),
    Column("model", String(200), nullable=False),
    Column("answer", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_answer_turns_conversation", "tenant_id", "conversation_id", "created_at"),
    Index("ix_answer_turns_tenant_created", "tenant_id", "created_at"),
    Index("ix_answer_turns_tenant_user", "tenant_id", "user_id"),
)

answer_feedback = Table(
    "answer_feedback",
    metadata,
    Column("answer_id", String(36), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("rating", String(8), nullable=False),
    Column("reason", String(32)),
    Column("comment", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("answer_id", "user_id", name="pk_answer_feedback"),
    Index("ix_answer_feedback_tenant_created", "tenant_id", "created_at"),
    Index("ix_answer_feedback_tenant_user", "tenant_id", "user_id"),
)
