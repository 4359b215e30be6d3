"""Knowledge graph: entities, aliases, relations and their links to chunks, per tenant.

Every link row (``graph_mentions``, ``graph_aliases``, ``graph_relation_chunks``)
references its chunk with ``ON DELETE CASCADE``: whatever deletes a chunk deletes what it
contributed to the graph; entities and relations cascade from their entity. ``graph_documents``
records which version of each document the graph was built from (the build stage's
progress, so ``ragd graph build`` resumes where it stopped); ``graph_extraction_cache``
keeps extractions by chunk-text hash (an LLM is not asked twice for the same text);
``graph_outbox`` feeds a Neo4j replica. All are tenant tables under row-level security on
Postgres.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)
_json = sa.JSON().with_variant(JSONB(), "postgresql")
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


def _chunk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "chunk_id",
        sa.String(80),
        sa.ForeignKey("chunks.id", ondelete="CASCADE"),
        primary_key=True,
    )


def _entity(name: str, *, primary_key: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name,
        _pk,
        sa.ForeignKey("graph_entities.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "graph_entities",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("vector", sa.LargeBinary()),
        sa.UniqueConstraint("tenant_id", "key", name="uq_graph_entities_tenant_key"),
    )
    # The names still to embed: without it each document's check scans the tenant's entities.
    op.create_index(
        "ix_graph_entities_unembedded",
        "graph_entities",
        ["tenant_id", "id"],
        postgresql_where=sa.text("vector IS NULL"),
        sqlite_where=sa.text("vector IS NULL"),
    )
    op.create_table(
        "graph_aliases",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("alias_key", sa.String(200), primary_key=True),
        _entity("entity_id"),
        _chunk(),
        sa.Column("document_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_graph_aliases_tenant_key", "graph_aliases", ["tenant_id", "alias_key"])
    op.create_index("ix_graph_aliases_chunk", "graph_aliases", ["chunk_id"])
    op.create_index("ix_graph_aliases_entity", "graph_aliases", ["entity_id"])
    op.create_index("ix_graph_aliases_document", "graph_aliases", ["tenant_id", "document_id"])
    op.create_table(
        "graph_mentions",
        _entity("entity_id", primary_key=True),
        _chunk(),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_graph_mentions_chunk", "graph_mentions", ["chunk_id"])
    op.create_index("ix_graph_mentions_document", "graph_mentions", ["tenant_id", "document_id"])
    op.create_table(
        "graph_relations",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        _entity("source_id"),
        _entity("target_id"),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "source_id", "target_id", "kind", name="uq_graph_relations_edge"
        ),
    )
    op.create_index("ix_graph_relations_source", "graph_relations", ["source_id"])
    op.create_index("ix_graph_relations_target", "graph_relations", ["target_id"])
    op.create_table(
        "graph_relation_chunks",
        sa.Column(
            "relation_id",
            _pk,
            sa.ForeignKey("graph_relations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _chunk(),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_graph_relation_chunks_chunk", "graph_relation_chunks", ["chunk_id"])
    op.create_index(
        "ix_graph_relation_chunks_document", "graph_relation_chunks", ["tenant_id", "document_id"]
    )
    op.create_table(
        "graph_documents",
        sa.Column(
            "document_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("built_at", _ts, nullable=False),
    )
    op.create_index("ix_graph_documents_tenant", "graph_documents", ["tenant_id"])
    op.create_table(
        "graph_extraction_cache",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("payload", _json, nullable=False),
        sa.Column("created_at", _ts, nullable=False),
    )
    op.create_table(
        "graph_outbox",
        sa.Column("id", _pk, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("applied_at", _ts),
    )
    op.create_index(
        "ix_graph_outbox_pending",
        "graph_outbox",
        ["id"],
        postgresql_where=sa.text("applied_at IS NULL"),
        sqlite_where=sa.text("applied_at IS NULL"),
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(table)
    op.drop_index("ix_graph_outbox_pending", table_name="graph_outbox")
    op.drop_table("graph_outbox")
    op.drop_table("graph_extraction_cache")
    op.drop_index("ix_graph_documents_tenant", table_name="graph_documents")
    op.drop_table("graph_documents")
    op.drop_index("ix_graph_relation_chunks_document", table_name="graph_relation_chunks")
    op.drop_index("ix_graph_relation_chunks_chunk", table_name="graph_relation_chunks")
    op.drop_table("graph_relation_chunks")
    op.drop_index("ix_graph_relations_target", table_name="graph_relations")
    op.drop_index("ix_graph_relations_source", table_name="graph_relations")
    op.drop_table("graph_relations")
    op.drop_index("ix_graph_mentions_document", table_name="graph_mentions")
    op.drop_index("ix_graph_mentions_chunk", table_name="graph_mentions")
    op.drop_table("graph_mentions")
    op.drop_index("ix_graph_aliases_document", table_name="graph_aliases")
    op.drop_index("ix_graph_aliases_entity", table_name="graph_aliases")
    op.drop_index("ix_graph_aliases_chunk", table_name="graph_aliases")
    op.drop_index("ix_graph_aliases_tenant_key", table_name="graph_aliases")
    op.drop_table("graph_aliases")
    op.drop_index("ix_graph_entities_unembedded", table_name="graph_entities")
    op.drop_table("graph_entities")
