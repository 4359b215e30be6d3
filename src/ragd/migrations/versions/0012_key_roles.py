"""API keys limited to a role: ``api_keys.role`` (NULL, for every existing key: the key
may do whatever its user may). A request made with a key acts with the lesser of this and
its user's role, computed per request.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default): no table copy on SQLite, no rewrite on
    # Postgres; api_keys already has its tenant policy (revision 0003).
    op.add_column("api_keys", sa.Column("role", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "role")
