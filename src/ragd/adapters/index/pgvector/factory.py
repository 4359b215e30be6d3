"""The pgvector index, built from its settings section (``services.container``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragd.adapters.index.pgvector.index import PgVectorIndex
from ragd.adapters.index.pgvector.ranking import title_rank_weights
from ragd.adapters.sql.database import Database
from ragd.domain.models import EmbeddingSpec

if TYPE_CHECKING:
    from ragd.config import IndexSettings


def build(db: Database, spec: EmbeddingSpec, index: IndexSettings) -> PgVectorIndex:
    """The index in the Store's Postgres ``db``: ``RAGD_HNSW_M``,
    ``RAGD_HNSW_EF_CONSTRUCTION``, ``RAGD_HNSW_EF_SEARCH``, ``RAGD_PG_EXACT_BELOW``,
    ``RAGD_PG_SPARSE_MAX_SCORED``, ``RAGD_PG_BUILD_MEMORY``."""
    return PgVectorIndex(
        db,
        spec,
        m=index.hnsw_m,
        ef_construction=index.hnsw_ef_construction,
        ef_search=index.hnsw_ef_search,
        exact_below=index.pg_exact_below,
        sparse_max_scored=index.pg_sparse_max_scored,
        build_memory=index.pg_build_memory,
        sparse_weights=title_rank_weights(index.bm25_title_weight),
    )
