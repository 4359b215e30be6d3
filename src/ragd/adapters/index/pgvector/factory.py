"""The pgvector index, built from Settings (``services.container``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragd.adapters.index.pgvector.index import PgVectorIndex
from ragd.adapters.sql.database import Database
from ragd.domain.models import EmbeddingSpec

if TYPE_CHECKING:
    from ragd.config import Settings


def build(db: Database, spec: EmbeddingSpec, settings: Settings) -> PgVectorIndex:
    """The index in the Store's Postgres ``db``: ``RAGD_HNSW_M``,
    ``RAGD_HNSW_EF_CONSTRUCTION``, ``RAGD_HNSW_EF_SEARCH``, ``RAGD_PG_EXACT_BELOW``,
    ``RAGD_PG_SPARSE_MAX_SCORED``, ``RAGD_PG_BUILD_MEMORY``."""
    return PgVectorIndex(
        db,
        spec,
        m=settings.hnsw_m,
        ef_construction=settings.hnsw_ef_construction,
        ef_search=settings.hnsw_ef_search,
        exact_below=settings.pg_exact_below,
        sparse_max_scored=settings.pg_sparse_max_scored,
        build_memory=settings.pg_build_memory,
    )
