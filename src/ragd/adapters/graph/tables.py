"""The graph's tables in the Store (revision 0008), as SQLAlchemy Core metadata.

The foreign keys live in the revision, not here (this metadata has no ``chunks`` table to
point at): every link row references its chunk with ``ON DELETE CASCADE``, so a chunk that
goes (a document deleted, replaced or cancelled) takes its links with it even if a graph
write raced the change; ``GraphStore.remove_document`` then removes the entities, aliases
and relations no link supports any more.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
PkInt = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

graph_entities = Table(
    "graph_entities",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("type", String(32), nullable=False),
    Column("vector", LargeBinary),
)

graph_aliases = Table(
    "graph_aliases",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("alias_key", String(200), primary_key=True),
    Column("entity_id", PkInt, nullable=False),
    Column("chunk_id", String(80), primary_key=True),
    Column("document_id", String(36), nullable=False),
)

graph_mentions = Table(
    "graph_mentions",
    metadata,
    Column("entity_id", PkInt, primary_key=True),
    Column("chunk_id", String(80), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("document_id", String(36), nullable=False),
)

graph_relations = Table(
    "graph_relations",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("source_id", PkInt, nullable=False),
    Column("target_id", PkInt, nullable=False),
    Column("kind", String(48), nullable=False),
)

graph_relation_chunks = Table(
    "graph_relation_chunks",
    metadata,
    Column("relation_id", PkInt, primary_key=True),
    Column("chunk_id", String(80), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("document_id", String(36), nullable=False),
)

graph_documents = Table(
    "graph_documents",
    metadata,
    Column("document_id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=False),
)

graph_extraction_cache = Table(
    "graph_extraction_cache",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("payload", Json, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

graph_outbox = Table(
    "graph_outbox",
    metadata,
    Column("id", PkInt, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("document_id", String(36), nullable=False),
    Column("op", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True)),
)
"""Writes a Neo4j replica has yet to apply: ``upsert`` (read the document's rows from the
tables above) or ``delete``; empty unless ``RAGD_GRAPH_STORE=neo4j``."""

TENANT_TABLES = (
    "graph_entities",
    "graph_aliases",
    "graph_mentions",
    "graph_relations",
    "graph_relation_chunks",
    "graph_documents",
    "graph_extraction_cache",
    "graph_outbox",
)
