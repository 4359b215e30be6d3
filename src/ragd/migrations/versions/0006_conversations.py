"""Stored conversations: conversations, answered questions (turns) and feedback.

Every answered question is a row of ``answer_turns`` (its id is the answer id feedback
names); turns of a conversation keep their passages. The three tables are tenant-scoped
and put under row-level security on Postgres (``ragd.adapters.sql.conversations``).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TENANT_TABLES = ("conversations", "answer_turns", "answer_feedback")


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_index(
        "ix_conversations_tenant_user", "conversations", ["tenant_id", "user_id", "updated_at"]
    )
    op.create_table(
        "answer_turns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("conversation_id", sa.String(36)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("search_query", sa.Text(), nullable=False),
        sa.Column("grounded", sa.Boolean(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("answer", _json, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_index(
        "ix_answer_turns_conversation",
        "answer_turns",
        ["tenant_id", "conversation_id", "created_at"],
    )
    op.create_index("ix_answer_turns_tenant_created", "answer_turns", ["tenant_id", "created_at"])
    op.create_index("ix_answer_turns_tenant_user", "answer_turns", ["tenant_id", "user_id"])
    op.create_table(
        "answer_feedback",
        sa.Column("answer_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("comment", sa.Text()),
        sa.Column("created_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("answer_id", "user_id", name="pk_answer_feedback"),
    )
    op.create_index(
        "ix_answer_feedback_tenant_created", "answer_feedback", ["tenant_id", "created_at"]
    )
    op.create_index("ix_answer_feedback_tenant_user", "answer_feedback", ["tenant_id", "user_id"])
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    op.drop_index("ix_answer_feedback_tenant_user", table_name="answer_feedback")
    op.drop_index("ix_answer_feedback_tenant_created", table_name="answer_feedback")
    op.drop_table("answer_feedback")
    op.drop_index("ix_answer_turns_tenant_user", table_name="answer_turns")
    op.drop_index("ix_answer_turns_tenant_created", table_name="answer_turns")
    op.drop_index("ix_answer_turns_conversation", table_name="answer_turns")
    op.drop_table("answer_turns")
    op.drop_index("ix_conversations_tenant_user", table_name="conversations")
    op.drop_table("conversations")
