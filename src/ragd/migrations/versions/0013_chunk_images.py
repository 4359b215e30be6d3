"""Image chunks' thumbnails: ``chunk_images`` holds the preview (a PNG of at most 768
pixels a side) of each image a document's image chunks were read from, keyed by the
document and the image's key in its chunks' metadata (``"image"``). Tenant-scoped, so
under row-level security on Postgres like the chunks.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunk_images",
        sa.Column(
            "document_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("image_key", sa.String(16), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    enable_tenant_rls("chunk_images")


def downgrade() -> None:
    disable_tenant_rls("chunk_images")
    op.drop_table("chunk_images")
