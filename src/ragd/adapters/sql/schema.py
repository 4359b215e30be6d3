"""The Store's tables as SQLAlchemy Core metadata.

The Alembic revisions under ``ragd/migrations`` create exactly these; the tables are
declared here once so queries are written against names, not strings. Index structures
(sqlite-vec, FTS5, pgvector) are not here: they belong to the Index adapter and are
rebuildable from ``chunks``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
PkInt = BigInteger().with_variant(Integer(), "sqlite")
# JSON documents: JSONB on Postgres (binary, indexable, containment operators), JSON text
# on SQLite. The Alembic revisions use the same type.
Json = JSON().with_variant(JSONB(), "postgresql")

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Per-tenant overrides of the service defaults (0002); NULL = default.
    Column("rate_limit_rpm", Integer),
    Column("max_documents", BigInteger),
    Column("max_bytes", BigInteger),
    Column("max_llm_tokens_month", BigInteger),
)

documents = Table(
    "documents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("media_type", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("version", Integer, nullable=False),
    Column("chunk_count", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Revision 0009: the collection it belongs to, and its allow-list (NULL: none).
    Column("collection_id", String(64), nullable=False, server_default="default"),
    Column("readers", Json),
    UniqueConstraint("tenant_id", "source", name="uq_documents_tenant_source"),
    Index("ix_documents_tenant_hash", "tenant_id", "content_hash"),
    Index("ix_documents_tenant_status", "tenant_id", "status"),
    Index("ix_documents_tenant_collection", "tenant_id", "collection_id"),
)

document_blobs = Table(
    "document_blobs",
    metadata,
    Column(
        "document_id", String(36), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("tenant_id", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

chunks = Table(
    "chunks",
    metadata,
    Column("pk", PkInt, primary_key=True, autoincrement=True),
    Column("id", String(80), nullable=False, unique=True),
    Column(
        "document_id", String(36), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    ),
    Column("tenant_id", String(64), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("page", Integer),
    Column("char_start", Integer, nullable=False),
    Column("char_end", Integer, nullable=False),
    Column("heading_path", Json, nullable=False),
    Column("token_count", Integer, nullable=False),
    Column("metadata", Json),  # the chunk's own (OCR confidence); NULL: none
    UniqueConstraint("document_id", "ordinal", name="uq_chunks_document_ordinal"),
    Index("ix_chunks_tenant_document", "tenant_id", "document_id"),
)

chunk_images = Table(
    "chunk_images",
    metadata,
    # Revision 0013: the preview of each image an image chunk was read from, served as its
    # thumbnail; replaced with the document's chunks, deleted with the document.
    Column(
        "document_id", String(36), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("image_key", String(16), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("media_type", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

ingest_jobs = Table(
    "ingest_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column(
        "document_id", String(36), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    ),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("run_after", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_ingest_jobs_state_run_after", "state", "run_after"),
    Index("ix_ingest_jobs_document", "document_id"),
)
