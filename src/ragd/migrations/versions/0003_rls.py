"""Row-level security on every tenant-scoped table (Postgres; nothing on SQLite).

Each table gets the two policies of ``ragd.adapters.sql.rls`` (rows of the transaction's
``ragd.tenant_id`` only, or every row under the explicit ``ragd.system`` bypass), forced on
the table's owner. The pgvector Index's tables are created by the Index on first use, not
by a revision: they are covered here when they already exist, and by
``PgVectorIndex.ensure_ready`` otherwise.

The table lists are written out rather than imported so that this revision keeps meaning
what it meant when later code changes; a new tenant-scoped table gets its policies in the
revision that creates it (``enable_tenant_rls``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, column holding the tenant id)
STORE_TABLES = (
    ("tenants", "id"),
    ("documents", "tenant_id"),
    ("document_blobs", "tenant_id"),
    ("chunks", "tenant_id"),
    ("ingest_jobs", "tenant_id"),
    ("users", "tenant_id"),
    ("api_keys", "tenant_id"),
    ("audit_log", "tenant_id"),
    ("query_log", "tenant_id"),
    ("usage_events", "tenant_id"),
)
INDEX_TABLES = ("index_tenants", "index_chunks", "index_terms")
"""pgvector's per-tenant tables (``index_meta`` holds no tenant data)."""


def upgrade() -> None:
    for table, column in STORE_TABLES:
        enable_tenant_rls(table, column=column)
    for table in INDEX_TABLES:
        enable_tenant_rls(table, missing_ok=True)


def downgrade() -> None:
    for table in INDEX_TABLES:
        disable_tenant_rls(table, missing_ok=True)
    for table, _ in reversed(STORE_TABLES):
        disable_tenant_rls(table)
