"""Chunks get metadata of their own: what the parser knew about that run of text (the OCR
engine and its confidence for a page read by OCR). NULL for every existing chunk.

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # A plain ALTER TABLE, not a batch: on SQLite a batch may copy the table, and the
    # chunks table is large and carries the index's triggers.
    op.add_column("chunks", sa.Column("metadata", _json))


def downgrade() -> None:
    op.drop_column("chunks", "metadata")
